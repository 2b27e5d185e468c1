/* Medians, and bootstrap intervals: for paired samples (A_i and B_i taken
 * next to each other in time) the median of the ratios A_i/B_i and of the
 * differences A_i - B_i, resampling pairs; for unpaired samples the ratio
 * and difference of the two medians, resampling each arm. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

/* The k-th smallest of v[0..n) (v is reordered so that v[0..k) <= v[k]):
 * quickselect with a three-way partition, robust to many equal samples. */
static uint64_t select_kth(uint64_t *v, size_t n, size_t k)
{
    while (n > 1) {
        uint64_t pivot = v[n / 2];
        size_t lt = 0, i = 0, gt = n;
        while (i < gt) {
            uint64_t x = v[i];
            if (x < pivot) {
                v[i++] = v[lt];
                v[lt++] = x;
            } else if (x > pivot) {
                v[i] = v[--gt];
                v[gt] = x;
            } else {
                i++;
            }
        }
        if (k < lt) {
            n = lt;
        } else if (k < gt) {
            return pivot;
        } else {
            v += gt;
            k -= gt;
            n -= gt;
        }
    }
    return v[0];
}

/* The two middle values of v[0..n) (the same one when n is odd); v is reordered. */
static void middle_pair(uint64_t *v, size_t n, uint64_t *lower, uint64_t *upper)
{
    *upper = select_kth(v, n, n / 2);
    *lower = *upper;
    if (n % 2 == 0) {
        /* After the select, everything below n/2 is <= upper: the lower middle is their max. */
        *lower = v[0];
        for (size_t i = 1; i < n / 2; i++)
            if (v[i] > *lower)
                *lower = v[i];
    }
}

static double median_inplace(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0.0;
    uint64_t lower, upper;
    middle_pair(v, n, &lower, &upper);
    return ((double)lower + (double)upper) / 2.0;
}

double median(const uint64_t *v, size_t n)
{
    if (n == 0)
        return 0.0;
    uint64_t *copy = malloc(n * sizeof *copy);
    if (!copy)
        die("out of memory");
    memcpy(copy, v, n * sizeof *copy);
    double m = median_inplace(copy, n);
    free(copy);
    return m;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static double resampled_median(const uint64_t *v, size_t n, uint64_t *scratch)
{
    for (size_t i = 0; i < n; i++)
        scratch[i] = v[rng_next() % n];
    return median_inplace(scratch, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { RESAMPLES = 400 };

/* The 95 % intervals from RESAMPLES resampled ratios r and differences d
 * (both sorted here). */
static void intervals(double *r, double *d, struct interval *ratio, struct interval *diff)
{
    qsort(r, RESAMPLES, sizeof *r, cmp_double);
    qsort(d, RESAMPLES, sizeof *d, cmp_double);
    size_t lo = RESAMPLES * 25 / 1000, hi = RESAMPLES - 1 - lo;
    *ratio = (struct interval){r[lo], r[hi]};
    *diff = (struct interval){d[lo], d[hi]};
}

void bootstrap(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
               struct interval *ratio, struct interval *diff)
{
    *ratio = (struct interval){0, 0};
    *diff = (struct interval){0, 0};
    if (na == 0 || nb == 0)
        return;
    uint64_t *scratch = malloc((na > nb ? na : nb) * sizeof *scratch);
    double *r = malloc(RESAMPLES * sizeof *r);
    double *d = malloc(RESAMPLES * sizeof *d);
    if (!scratch || !r || !d)
        die("out of memory");
    for (int i = 0; i < RESAMPLES; i++) {
        double ma = resampled_median(a, na, scratch);
        double mb = resampled_median(b, nb, scratch);
        r[i] = mb > 0 ? ma / mb : 0.0;
        d[i] = ma - mb;
    }
    intervals(r, d, ratio, diff);
    free(scratch);
    free(r);
    free(d);
}

/* Stores median(x[i] / y[i]) and median(x[i] - y[i]) over the index list. */
static void paired_medians(const uint64_t *a, const uint64_t *b, const size_t *idx, size_t n, double *ratio,
                           double *diff, uint64_t *scratch_r, uint64_t *scratch_d)
{
    /* Ratios in fixed point (1e-9 resolution) and differences offset by
     * 2^63, so that both sort as uint64_t. */
    for (size_t i = 0; i < n; i++) {
        size_t k = idx ? idx[i] : i;
        scratch_r[i] = b[k] ? (uint64_t)((double)a[k] / (double)b[k] * 1e9) : 0;
        scratch_d[i] = a[k] - b[k] + (UINT64_C(1) << 63);
    }
    *ratio = median_inplace(scratch_r, n) / 1e9;
    uint64_t lower, upper;
    middle_pair(scratch_d, n, &lower, &upper);
    /* Back to signed before converting: a double cannot hold 2^63 + a few ns. */
    *diff = ((double)(int64_t)(lower - (UINT64_C(1) << 63)) + (double)(int64_t)(upper - (UINT64_C(1) << 63))) / 2.0;
}

void paired(const uint64_t *a, const uint64_t *b, size_t n, double *ratio, double *diff,
            struct interval *ratio_ci, struct interval *diff_ci)
{
    *ratio = *diff = 0;
    *ratio_ci = *diff_ci = (struct interval){0, 0};
    if (n == 0)
        return;
    uint64_t *sr = malloc(n * sizeof *sr), *sd = malloc(n * sizeof *sd);
    size_t *idx = malloc(n * sizeof *idx);
    double *r = malloc(RESAMPLES * sizeof *r), *d = malloc(RESAMPLES * sizeof *d);
    if (!sr || !sd || !idx || !r || !d)
        die("out of memory");
    paired_medians(a, b, NULL, n, ratio, diff, sr, sd);
    for (int i = 0; i < RESAMPLES; i++) {
        for (size_t k = 0; k < n; k++)
            idx[k] = rng_next() % n;
        paired_medians(a, b, idx, n, &r[i], &d[i], sr, sd);
    }
    intervals(r, d, ratio_ci, diff_ci);
    free(sr);
    free(sd);
    free(idx);
    free(r);
    free(d);
}
