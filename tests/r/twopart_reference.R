# Reference numbers for analysis/twopart, computed independently in R.
#
# Run from the repository root:
#   Rscript tests/r/twopart_reference.R > tests/results/twopart_r.py
#
# Data: tests/results/twopart_data.csv (deterministic, from make_twopart_data.py).
# Models: y ~ i.f3 + x + x^2 + i.dd in both parts; part 1 probit (and logit),
# part 2 Gamma(log) GLM or OLS on log(y) among y > 0; and a fractional logit
# (binomial GLM, logit link) of `ratio` among ratio > 0 with robust SEs.
# Conventions reproduced (Stata's): OIM = inverse observed information (scaled by
# the Pearson dispersion for Gamma); robust = HC0 * n/(n-1) for ML, HC1 for OLS;
# cluster = G/(G-1) for ML, G/(G-1)(n-1)/(n-k) for OLS (sandwich::vcovCL HC1);
# survey = Taylor linearisation via survey::svytotal of influence functions.
# AMEs: predictions from model.matrix() on counterfactual data; delta-method
# Jacobians by central finite differences in the coefficients, with steps that move
# the linear index by at most 1e-5 (truncation and rounding error ~1e-10).
suppressPackageStartupMessages({library(sandwich); library(survey)})
options(digits = 17)
d <- read.csv("tests/results/twopart_data.csv")
d$f3 <- factor(d$f3, levels = c("a", "b", "c"))
d$dd <- factor(d$dd, levels = c(0, 1))
d$pos <- as.numeric(d$y > 0)
fml <- ~ f3 + x + I(x^2) + dd
ord <- c(2:6, 1)  # Stata order: regressors, then _cons
pos <- d$y > 0
dp <- d[pos, ]
ctl <- glm.control(epsilon = 1e-14, maxit = 200)

emit <- function(name, v) {
  cat(name, " = [", paste(sprintf("%.17g", as.vector(v)), collapse = ", "), "]\n", sep = "")
}
emitm <- function(name, m) emit(name, m[ord, ord])
X1 <- model.matrix(fml, d)
X2 <- model.matrix(fml, dp)
n1 <- nrow(X1); n2 <- nrow(X2); k <- ncol(X1)

# ---- part 1 probit ---------------------------------------------------------
pr <- glm(pos ~ f3 + x + I(x^2) + dd, family = binomial(link = "probit"), data = d, control = ctl)
b1 <- coef(pr); eta1 <- drop(X1 %*% b1)
q <- 2 * d$pos - 1
lam <- q * dnorm(q * eta1) / pnorm(q * eta1)
H1 <- crossprod(X1 * sqrt(lam * (lam + eta1)))       # observed information
S1 <- X1 * lam                                        # scores
A1 <- solve(H1)
V1_oim <- A1
V1_rob <- A1 %*% crossprod(S1) %*% A1 * n1 / (n1 - 1)
G <- length(unique(d$cl))
U1 <- rowsum(S1, d$cl)
V1_cl <- A1 %*% crossprod(U1) %*% A1 * G / (G - 1)
# ---- part 1 logit: sandwich's own vcovCL (canonical link: bread = OIM) ------
lg <- glm(pos ~ f3 + x + I(x^2) + dd, family = binomial(link = "logit"), data = d, control = ctl)
V1l_cl <- vcovCL(lg, cluster = ~cl, type = "HC0", cadjust = TRUE)
V1l_oim <- vcov(lg)

# ---- part 2 Gamma log --------------------------------------------------------
gm <- glm(y ~ f3 + x + I(x^2) + dd, family = Gamma(link = "log"), data = dp, control = ctl)
b2 <- coef(gm); mu <- fitted(gm)
phi <- sum(residuals(gm, type = "pearson")^2) / df.residual(gm)
H2 <- crossprod(X2 * sqrt(dp$y / mu))                  # observed info, phi = 1
A2 <- solve(H2)
S2 <- X2 * ((dp$y - mu) / mu)
V2_oim <- phi * A2
V2_rob <- A2 %*% crossprod(S2) %*% A2 * n2 / (n2 - 1)
G2 <- length(unique(dp$cl))
V2_cl <- A2 %*% crossprod(rowsum(S2, dp$cl)) %*% A2 * G2 / (G2 - 1)

# ---- part 2 OLS on log(y) ----------------------------------------------------
ol <- lm(log(y) ~ f3 + x + I(x^2) + dd, data = dp)
b3 <- coef(ol)
duan <- mean(exp(residuals(ol)))
V3_oim <- vcov(ol)
V3_rob <- vcovHC(ol, type = "HC1")
V3_cl <- vcovCL(ol, cluster = ~cl, type = "HC1", cadjust = TRUE)

# ---- margins -------------------------------------------------------------------
cf <- function(data, f3 = NULL, dd = NULL) {
  if (!is.null(f3)) data$f3 <- factor(rep(f3, nrow(data)), levels = c("a", "b", "c"))
  if (!is.null(dd)) data$dd <- factor(rep(dd, nrow(data)), levels = c(0, 1))
  model.matrix(fml, data)
}
dx <- function(b) b["x"] + 2 * b["I(x^2)"] * d$x       # d index / d x, all rows
part1p <- function(X, b) pnorm(drop(X %*% b))
part2m <- function(X, b) exp(drop(X %*% b))
# each function of theta = (b1, b2) returns (total, extensive, intensive)
ame_x <- function(th) {
  b <- th[1:k]; g <- th[(k + 1):(2 * k)]
  e1 <- drop(X1 %*% b); m2 <- part2m(X1, g)
  ext <- dnorm(e1) * dx(b) * m2; int <- pnorm(e1) * m2 * dx(g)
  c(mean(ext + int), mean(ext), mean(int))
}
ame_lev <- function(th, f3 = NULL, dd = NULL, base_f3 = NULL, base_dd = NULL) {
  b <- th[1:k]; g <- th[(k + 1):(2 * k)]
  Xl <- cf(d, f3, dd); Xb <- cf(d, base_f3, base_dd)
  p1 <- part1p(Xl, b); p0 <- part1p(Xb, b); h1 <- part2m(Xl, g); h0 <- part2m(Xb, g)
  ext <- (p1 - p0) * (h0 + h1) / 2; int <- (h1 - h0) * (p0 + p1) / 2
  c(mean(ext + int), mean(ext), mean(int))
}
p1_x <- function(th) mean(dnorm(drop(X1 %*% th[1:k])) * dx(th[1:k]))
p2_x <- function(th) { g <- th[(k + 1):(2 * k)]; e <- drop(X2 %*% g)
  mean(exp(e) * (g["x"] + 2 * g["I(x^2)"] * dp$x)) }
p2_c <- function(th) { g <- th[(k + 1):(2 * k)]
  mean(part2m(cf(dp, "c"), g) - part2m(cf(dp, "a"), g)) }
p1_c <- function(th) mean(part1p(cf(d, "c"), th[1:k]) - part1p(cf(d, "a"), th[1:k]))
Xs <- cbind(X1, X1)
jac <- function(f, th) {
  sapply(seq_along(th), function(j) {
    h <- 1e-5 / max(abs(Xs[, j])); tp <- th; tm <- th  # index moves <= 1e-5
    tp[j] <- tp[j] + h; tm[j] <- tm[j] - h
    (f(tp) - f(tm)) / (2 * h)
  })
}
theta <- c(b1, b2)
Vblk <- matrix(0, 2 * k, 2 * k)
Vblk[1:k, 1:k] <- V1_oim; Vblk[(k + 1):(2 * k), (k + 1):(2 * k)] <- V2_oim
report <- function(name, f) {
  est <- f(theta); J <- matrix(jac(f, theta), nrow = length(est))
  emit(paste0(name, "_est"), est)
  emit(paste0(name, "_se_oim"), sqrt(diag(J %*% Vblk %*% t(J))))
}

# ---- part 2 fractional logit: binomial GLM of the ratio, robust ----------------
# sandwich::vcovHC(HC0) (bread from the working weights: canonical link, so
# observed = expected information) times Stata's n/(n-1).
fl <- glm(ratio ~ f3 + x + I(x^2) + dd, family = quasibinomial(link = "logit"), data = dp,
          control = ctl)
b4 <- coef(fl)
V4_rob <- vcovHC(fl, type = "HC0") * n2 / (n2 - 1)
Vrob <- matrix(0, 2 * k, 2 * k)
Vrob[1:k, 1:k] <- V1_rob; Vrob[(k + 1):(2 * k), (k + 1):(2 * k)] <- V4_rob
frac_p2_x <- function(th) { g <- th[(k + 1):(2 * k)]; e <- drop(X2 %*% g)
  mean(dlogis(e) * (g["x"] + 2 * g["I(x^2)"] * dp$x)) }
frac_p2_c <- function(th) { g <- th[(k + 1):(2 * k)]
  mean(plogis(drop(cf(dp, "c") %*% g)) - plogis(drop(cf(dp, "a") %*% g))) }
frac_comb_x <- function(th) {
  b <- th[1:k]; g <- th[(k + 1):(2 * k)]
  e1 <- drop(X1 %*% b); e2 <- drop(X1 %*% g)
  ext <- dnorm(e1) * dx(b) * plogis(e2); int <- pnorm(e1) * dlogis(e2) * dx(g)
  c(mean(ext + int), mean(ext), mean(int))
}
theta4 <- c(b1, b4)
report_rob <- function(name, f) {
  est <- f(theta4); J <- matrix(jac(f, theta4), nrow = length(est))
  emit(paste0(name, "_est"), est)
  emit(paste0(name, "_se_robust"), sqrt(diag(J %*% Vrob %*% t(J))))
}

# ---- survey design (linearised) ------------------------------------------------
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, nest = TRUE, data = d)
sl <- svyglm(pos ~ f3 + x + I(x^2) + dd, design = des, family = quasibinomial(link = "logit"),
             control = ctl)
pw <- glm(pos ~ f3 + x + I(x^2) + dd, family = quasibinomial(link = "probit"), data = d,
          weights = w, control = ctl)
bw <- coef(pw); ew <- drop(X1 %*% bw)
lw <- q * dnorm(q * ew) / pnorm(q * ew)
Hw <- crossprod(X1 * sqrt(d$w * lw * (lw + ew)))
inf1 <- (X1 * (d$w * lw)) %*% solve(Hw) / d$w          # svytotal re-weights by w
gw <- glm(y ~ f3 + x + I(x^2) + dd, family = Gamma(link = "log"), data = dp,
          weights = w, control = ctl)
bgw <- coef(gw); muw <- fitted(gw)
Hgw <- crossprod(X2 * sqrt(dp$w * dp$y / muw))
inf2 <- matrix(0, n1, k)
inf2[pos, ] <- (X2 * ((dp$y - muw) / muw)) %*% solve(Hgw)   # zero outside part 2
infl <- cbind(inf1, inf2); colnames(infl) <- paste0("v", 1:(2 * k))
des2 <- des; des2$variables <- cbind(des$variables, infl)
Vsvy <- vcov(svytotal(as.formula(paste("~", paste(colnames(infl), collapse = "+"))), des2))

cat('"""Reference numbers from R for tests/test_twopart_vs_r.py.\n\n')
cat("Generated by: Rscript tests/r/twopart_reference.R > tests/results/twopart_r.py\n")
cat(R.version.string, "; sandwich", as.character(packageVersion("sandwich")),
    "; survey", as.character(packageVersion("survey")), "\n")
cat("Coefficient order: f3=b, f3=c, x, x#x, dd=1, _cons (Stata order).\n")
cat("Matrices are flattened column-major (R), all symmetric.\n")
cat('"""\n\n')
emit("probit_b", b1[ord]); emitm("probit_V_oim", V1_oim)
emitm("probit_V_robust", V1_rob); emitm("probit_V_cluster", V1_cl)
emit("logit_b", coef(lg)[ord]); emitm("logit_V_oim", V1l_oim); emitm("logit_V_cluster", V1l_cl)
emit("gamma_b", b2[ord]); cat("gamma_phi =", sprintf("%.17g", phi), "\n")
emitm("gamma_V_oim", V2_oim); emitm("gamma_V_robust", V2_rob); emitm("gamma_V_cluster", V2_cl)
emit("ols_b", b3[ord]); cat("ols_duan =", sprintf("%.17g", duan), "\n")
emitm("ols_V_oim", V3_oim); emitm("ols_V_robust", V3_rob); emitm("ols_V_cluster", V3_cl)
report("ame_p1_x", p1_x); report("ame_p1_c", p1_c)
report("ame_p2_x", p2_x); report("ame_p2_c", p2_c)
report("ame_comb_x", ame_x)
report("ame_comb_c", function(th) ame_lev(th, f3 = "c", base_f3 = "a"))
report("ame_comb_dd", function(th) ame_lev(th, dd = 1, base_dd = 0))
emit("svy_logit_b", coef(sl)[ord]); emitm("svy_logit_V", vcov(sl))
emit("svy_probit_b", bw[ord]); emit("svy_gamma_b", bgw[ord])
ord2 <- c(ord, ord + k)
emit("svy_joint_V", Vsvy[ord2, ord2])
emit("frac_b", b4[ord]); emitm("frac_V_robust", V4_rob)
report_rob("frac_p2_x", frac_p2_x); report_rob("frac_p2_c", frac_p2_c)
report_rob("frac_comb_x", frac_comb_x)
