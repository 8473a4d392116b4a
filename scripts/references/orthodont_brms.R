# A Bayesian reference for the corpus model orthodont_corr (tests/fixtures/corpus/corpus.json):
# its group SDs, correlation and residual SD are weakly identified (lme4's profile fails, the
# intercept at age 0 lies far from the data), so a posterior mean is not near the REML estimate
# whatever the sampler. brms (Stan) fits the same model with the priors radonspec's study gets
# from Bambi 0.21 (`radonspec show`), written out; the corpus test compares those quantities
# with these posterior means. Run from the repository root:
#   Rscript scripts/references/orthodont_brms.R
# Output of 2026-11-30 (R 4.2.2, brms 2.18, 4 chains x 1000 draws, seed 1), summarised:
#   sd(Intercept) 1.80 (95% 0.26 to 3.52), sd(age) 0.13 (0.01 to 0.30),
#   cor(Intercept, age) -0.17 (-0.85 to 0.77), sigma 1.41 (1.19 to 1.67),
#   Intercept 17.60, age 0.66, SexFemale -2.02; 31 divergent transitions at adapt_delta 0.95.
# lme4's REML: 2.80, 0.226, -0.766, 1.31.
suppressMessages(library(brms))
d <- read.csv("tests/fixtures/corpus/orthodont.csv", stringsAsFactors = TRUE)
d$Sex <- relevel(d$Sex, ref = "Male")
priors <- c(
  prior(normal(0, 37.08), class = sd, group = Subject, coef = Intercept),
  prior(normal(0, 3.259), class = sd, group = Subject, coef = age),
  prior(lkj(2), class = cor),
  prior(normal(0, 3.259), class = b, coef = age),
  prior(normal(0, 14.83), class = b, coef = SexFemale)
)
fit <- brm(distance ~ age + Sex + (age | Subject), data = d, prior = priors, chains = 4,
           iter = 2000, cores = 2, seed = 1, refresh = 0, control = list(adapt_delta = 0.95))
print(summary(fit))
