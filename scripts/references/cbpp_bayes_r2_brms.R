# A Bayesian reference for the Bayes R² of a binomial response with trials: the corpus model
# cbpp_binomial (tests/fixtures/corpus/corpus.json), fitted by brms (Stan) with normal(0, 5)
# priors on the intercept and the period effects. brms' bayes_R2 takes the expected value of a
# row as its trials times p (posterior_epred), conditional on the herd intercepts, and with
# re_formula = NA without them (the marginal R²). The corpus test compares radonspec's R² with
# these posterior means. Run from the repository root:
#   Rscript scripts/references/cbpp_bayes_r2_brms.R
# Output of 2026-12-01 (R 4.2.2, brms 2.18, 4 chains x 1000 draws, seed 1):
#   pooled (incidence | trials(size) ~ period):      R2 0.392 (sd 0.060, 95% 0.266 to 0.503)
#   herds (... + (1 | herd)), conditional:            R2 0.640 (sd 0.083, 95% 0.448 to 0.762)
#   herds, marginal (re_formula = NA):                R2 0.329 (sd 0.096, 95% 0.142 to 0.509)
#   herds' coefficients: Intercept -1.42, period2 -0.98, period3 -1.12, period4 -1.59
# radonspec on the same models and priors (4 chains x 1000 draws, seed 1) gave 0.392, 0.639
# and 0.333; R² computed by hand from its draws gave the same to 4 decimals.
suppressMessages(library(brms))
d <- read.csv("tests/fixtures/corpus/cbpp.csv")
d$period <- factor(d$period)
d$herd <- factor(d$herd)
priors <- c(set_prior("normal(0, 5)", class = "b"), set_prior("normal(0, 5)", class = "Intercept"))
pooled <- brm(incidence | trials(size) ~ period, data = d, family = binomial(), prior = priors,
              chains = 4, iter = 2000, seed = 1, refresh = 0, cores = 2)
print(bayes_R2(pooled))
herds <- brm(incidence | trials(size) ~ period + (1 | herd), data = d, family = binomial(),
             prior = priors, chains = 4, iter = 2000, seed = 1, refresh = 0, cores = 2)
print(bayes_R2(herds))
print(bayes_R2(herds, re_formula = NA))
print(fixef(herds))
