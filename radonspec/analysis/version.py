"""The analysis' version, apart from the code that makes it (cheap to import).

Bump ``ANALYSIS_VERSION`` when what an analysis holds or how it is computed changes:
analyses kept in the store then miss and are made again, and reports made from the old
ones are no longer current. History: 2 the LOO-PIT Δ-ECDF; 3 correlations and group
effects; 4 effects, Bayes R² and prior sensitivity; 5 what each model models (comparison
groups), group estimates from the posterior terms, statsmodels' frequentist reference and
the non-centering advice; 6 models written with lme4's || compared, interactions of
factors named in the frequentist reference, longer chains advised beyond what the fit had;
7 Bayes R² of binomial responses with trials (the trials times p) and of zero-inflated
and hurdle families (psi times the mean of the non-zero part); censored responses: the
LOO-PIT drawn within each censored bound, no R² or PP RMSD.
"""

ANALYSIS_VERSION = 7
