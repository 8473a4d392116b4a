#!/usr/bin/env Rscript
# Contender: the seed study's models fitted with brms (Stan through rstan), compared by LOO.
#
# What an R user writes instead of radonspec: one brm() call per model, loo() on each fit, and
# loo_compare(). Every model is compiled by Stan (C++) in this process, as a user's first run
# does; the harness times the whole script (R start, compile, sampling, LOO).
#
#   Rscript bench/contenders/brms_seed.R --result out.json [--draws 1000 --tune 1000
#       --chains 4 --target-accept 0.9 --seed 20221 --data radon.csv --models pooled ...]
#
# Priors mirror specs/radon/seed.yaml as closely as brms allows:
# - the intercept: brms puts a plain `Intercept` prior on the intercept of *centred*
#   predictors; `0 + Intercept` makes it an ordinary coefficient of the raw design, which is
#   what the seed's `center_predictors: false` means, so Normal(0, 100) lands on the same
#   parameter;
# - `(floor | county)` in Bambi is independent intercepts and slopes: brms writes that
#   `(1 + floor || county)` (its `|` would add a correlation);
# - group SDs HalfNormal(5): brms's `normal(0, 5)` on class sd, which it truncates at 0;
#   sigma HalfCauchy(5): `cauchy(0, 5)` on class sigma, truncated at 0 likewise;
# - where they differ: brms always samples group effects non-centred (sd * z), while the seed's
#   hierarchical model is centred (`noncentered: false`); the posterior is the same, the
#   geometry the sampler sees is not.
# Chains run in parallel, one process each up to the number of cores (PyMC's default too).

started <- proc.time()[["elapsed"]]

parse_args <- function(argv) {
  args <- list(draws = 1000L, tune = 1000L, chains = 4L, target_accept = 0.9, seed = 20221L,
               data = file.path("radonspec", "data", "datasets", "radon.csv"), result = NULL,
               models = c("pooled", "unpooled", "hierarchical"))
  i <- 1L
  while (i <= length(argv)) {
    arg <- argv[i]
    if (grepl("=", arg, fixed = TRUE)) {
      key <- sub("=.*", "", arg)
      values <- sub("^[^=]*=", "", arg)
      i <- i + 1L
    } else {
      key <- arg
      values <- character(0)
      i <- i + 1L
      while (i <= length(argv) && !startsWith(argv[i], "--")) {
        values <- c(values, argv[i])
        i <- i + 1L
      }
    }
    name <- gsub("-", "_", sub("^--", "", key))
    if (!name %in% names(args) && name != "result") stop("unknown option ", key)
    args[[name]] <- if (name == "models") values else values[1]
  }
  if (is.null(args$result)) stop("--result FILE is required")
  args$draws <- as.integer(args$draws)
  args$tune <- as.integer(args$tune)
  args$chains <- as.integer(args$chains)
  args$seed <- as.integer(args$seed)
  args$target_accept <- as.numeric(args$target_accept)
  args
}

args <- parse_args(commandArgs(trailingOnly = TRUE))

suppressPackageStartupMessages({
  library(brms)
  library(loo)
  library(jsonlite)
})
loaded <- proc.time()[["elapsed"]]

radon <- utils::read.csv(args$data, stringsAsFactors = FALSE)
radon$county <- factor(radon$county)

wide <- "normal(0, 100)"
MODELS <- list(
  pooled = list(
    formula = bf(log_radon ~ 0 + Intercept + floor),
    prior = c(set_prior(wide, class = "b"), set_prior("cauchy(0, 5)", class = "sigma"))
  ),
  unpooled = list(
    formula = bf(log_radon ~ 0 + county + county:floor),
    prior = c(set_prior(wide, class = "b"), set_prior("cauchy(0, 5)", class = "sigma"))
  ),
  hierarchical = list(
    formula = bf(log_radon ~ 0 + Intercept + floor + (1 + floor || county)),
    prior = c(set_prior(wide, class = "b"), set_prior("normal(0, 5)", class = "sd"),
              set_prior("cauchy(0, 5)", class = "sigma"))
  )
)

cores <- min(args$chains, parallel::detectCores())
elapsed <- function() proc.time()[["elapsed"]]

# minimum rank-normalised bulk ESS over every parameter (group effects included), without
# Stan's lp__ and brms's lprior, as the Python contenders take it over parameters only
min_bulk_ess <- function(fit) {
  draws <- posterior::as_draws_array(fit)
  keep <- setdiff(posterior::variables(draws), c("lp__", "lprior"))
  ess <- posterior::summarise_draws(posterior::subset_draws(draws, variable = keep),
                                    ess = posterior::ess_bulk)
  worst <- which.min(ess$ess)
  list(value = ess$ess[worst], variable = ess$variable[worst])
}

fits <- list()
loos <- list()
models <- list()
for (name in args$models) {
  spec <- MODELS[[name]]
  if (is.null(spec)) stop("unknown model ", name)
  tick <- elapsed()
  # chains = 0: brms builds and compiles the Stan program without sampling, so the compile is
  # timed on its own; update(recompile = FALSE) then samples the compiled program
  # rstan says "the number of chains is less than 1; sampling not done": that is the point
  empty <- suppressMessages(brm(spec$formula, data = radon, prior = spec$prior,
                                family = gaussian(), chains = 0, backend = "rstan", silent = 2,
                                refresh = 0))
  compiled <- elapsed()
  fit <- update(empty, recompile = FALSE, chains = args$chains, iter = args$tune + args$draws,
                warmup = args$tune, cores = cores, seed = args$seed,
                control = list(adapt_delta = args$target_accept), refresh = 0, silent = 2)
  sampled <- elapsed()
  fits[[name]] <- fit
  loos[[name]] <- loo(fit)
  looed <- elapsed()
  times <- rstan::get_elapsed_time(fit$fit)
  ess <- min_bulk_ess(fit)
  models[[name]] <- list(
    compile_s = compiled - tick,
    # the whole update() call: rstan's worker processes, the chains, brms's post-processing
    sample_s = sampled - compiled,
    # Stan's own warmup + sampling seconds of the slowest chain
    chain_max_s = max(rowSums(times)),
    loo_s = looed - sampled,
    fit_s = looed - tick,
    ess_bulk_min = ess$value,
    ess_bulk_min_var = ess$variable,
    elpd_loo = loos[[name]]$estimates["elpd_loo", "Estimate"],
    pareto_k_over_0.7 = sum(loo::pareto_k_values(loos[[name]]) > 0.7),
    divergent = sum(rstan::get_divergent_iterations(fit$fit))
  )
}

table <- list()
if (length(loos) > 1) {
  compared <- loo_compare(loos)
  for (k in seq_len(nrow(compared))) {
    table[[k]] <- list(model = rownames(compared)[k],
                       elpd = compared[k, "elpd_loo"], rank = k - 1L)
  }
}

result <- list(
  method = "brms",
  cores = cores,
  models = models,
  comparison = table,
  load_s = loaded - started,
  script_s = elapsed() - started,
  versions = list(R = R.version.string, brms = as.character(packageVersion("brms")),
                  rstan = as.character(packageVersion("rstan")),
                  loo = as.character(packageVersion("loo")))
)
write_json(result, args$result, auto_unbox = TRUE, digits = NA, pretty = TRUE)
