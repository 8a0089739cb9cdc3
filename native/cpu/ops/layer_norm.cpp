#include "cpu/ops/layer_norm.h"

#include <cmath>

#include "core/thread_pool.h"

namespace skipdit::cpu {

namespace {

struct Moments {
  float mean, rstd;
};

// Mean and 1/sqrt(var + eps) of the parts p0[0..n0) and p1[0..n1) taken together (biased variance).
Moments moments(const float* p0, int64_t n0, const float* p1, int64_t n1, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n0; ++i) sum += p0[i];
  for (int64_t i = 0; i < n1; ++i) sum += p1[i];
  const double mean = sum / double(n0 + n1);
  double sq = 0;
  for (int64_t i = 0; i < n0; ++i) sq += (p0[i] - mean) * (p0[i] - mean);
  for (int64_t i = 0; i < n1; ++i) sq += (p1[i] - mean) * (p1[i] - mean);
  const double var = sq / double(n0 + n1);
  return {float(mean), float(1.0 / std::sqrt(var + double(eps)))};
}

inline void normalize(const float* x, int64_t n, Moments m, const float* gamma, const float* beta, float* y) {
  if (gamma) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m.mean) * m.rstd * gamma[i] + beta[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m.mean) * m.rstd;
  }
}

}  // namespace

void layer_norm(const float* x, int64_t rows, int64_t D, float eps, const float* gamma, const float* beta, float* y) {
  ThreadPool::global().parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      normalize(xr, D, moments(xr, D, nullptr, 0, eps), gamma, beta, y + r * D);
    }
  });
}

void layer_norm_modulate(const float* x, int64_t G, int64_t N, int64_t D, float eps, CondRows cond, int64_t shift_col,
                         int64_t scale_col, float* y) {
  ThreadPool::global().parallel_for(G * N, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      const float* shift = cond.row(r / N, shift_col);
      const float* scale = cond.row(r / N, scale_col);
      const Moments m = moments(xr, D, nullptr, 0, eps);
      float* yr = y + r * D;
      for (int64_t i = 0; i < D; ++i) {
        const float normed = (xr[i] - m.mean) * m.rstd;
        yr[i] = normed * (1.0f + scale[i]) + shift[i];
      }
    }
  });
}

void layer_norm_concat(const float* a, const float* b, int64_t rows, int64_t D, float eps, const float* gamma,
                       const float* beta, float* y) {
  ThreadPool::global().parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* ar = a + r * D;
      const float* br = b + r * D;
      float* yr = y + r * 2 * D;
      Moments m = moments(ar, D, br, D, eps);
      normalize(ar, D, m, gamma, beta, yr);
      normalize(br, D, m, gamma + D, beta + D, yr + D);
    }
  });
}

}  // namespace skipdit::cpu
