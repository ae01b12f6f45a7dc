/*
 * test_clock.c — the span clock (common/clock.c): on the TSC path and on
 * the clock_gettime path it agrees with CLOCK_REALTIME; it takes the TSC
 * path wherever the CPU and the kernel's clocksource allow; a counter that
 * jumps backwards or forwards is caught at the next renewal, never
 * extrapolated across, and three such faults put the process on
 * clock_gettime for good; TW_CLOCK=system opts out.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"

#define TOL_NS 2000000 /* 2 ms: a rate off by 2 % shows within one 100 ms window */

static uint64_t realtime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms) {
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&d, NULL);
}

/* Does this machine offer what the TSC path needs? Read the way an operator
 * would: /proc/cpuinfo's flags and the kernel's clocksource. */
static bool machine_has_tsc_clock(void) {
#if defined(__x86_64__)
    char line[4096], src[64] = {0};
    bool flags = false;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            flags = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
            break;
        }
    if (f) fclose(f);
    f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) {
        if (!fgets(src, sizeof src, f)) src[0] = '\0';
        fclose(f);
    }
    src[strcspn(src, "\n")] = '\0';
    return flags && (strcmp(src, "tsc") == 0 || strcmp(src, "kvm-clock") == 0);
#else
    return false;
#endif
}

/* Read the clock for `ms`, each value bracketed by CLOCK_REALTIME. Returns
 * the largest step backwards between consecutive reads. */
static uint64_t agrees_for(long ms) {
    uint64_t until = realtime() + (uint64_t)ms * 1000000u, prev = 0, back = 0;
    for (;;) {
        uint64_t before = realtime();
        uint64_t t = tw__clock_ns();
        uint64_t after = realtime();
        if (t + TOL_NS < before || t > after + TOL_NS)
            fail_msg("clock %llu outside [%llu, %llu] by more than %d ns (source %d)", (unsigned long long)t,
                     (unsigned long long)before, (unsigned long long)after, TOL_NS, tw__clock_source());
        if (prev > t && prev - t > back) back = prev - t;
        prev = t;
        if (after > until) return back;
    }
}

static void wait_for_tsc(void) {
    for (int i = 0; i < 200 && tw__clock_source() != TW_CLOCK_TSC; i++) {
        (void)tw__clock_ns();
        sleep_ms(2);
    }
}

static int reset(void **state) {
    (void)state;
    unsetenv("TW_CLOCK");
    tw__clock_force_syscall(0);
    return 0;
}

static void test_tsc_path_where_the_machine_allows(void **state) {
    wait_for_tsc();
    if (machine_has_tsc_clock())
        assert_int_equal(tw__clock_source(), TW_CLOCK_TSC);
    else
        assert_int_equal(tw__clock_source(), TW_CLOCK_SYSTEM);
    printf("clock source: %s\n", tw__clock_source() == TW_CLOCK_TSC ? "tsc" : "system");
}

static void test_agrees_with_realtime_across_renewals(void **state) {
    wait_for_tsc();
    /* 350 ms: past three anchor renewals and several rate refinements. */
    uint64_t back = agrees_for(350);
    assert_true(back < 10000); /* a renewal may step back by the rate's error, never by µs */
    assert_int_equal(tw__clock_faults(), 0);
}

static void test_system_clock_when_forced(void **state) {
    tw__clock_force_syscall(1);
    assert_int_equal(tw__clock_source(), TW_CLOCK_SYSTEM);
    (void)agrees_for(50);
    tw__clock_force_syscall(0);
    setenv("TW_CLOCK", "system", 1);
    (void)tw__clock_ns();
    assert_int_equal(tw__clock_source(), TW_CLOCK_SYSTEM);
    (void)agrees_for(120);
    assert_int_equal(tw__clock_source(), TW_CLOCK_SYSTEM);
}

/* A counter that moves by `ticks` (a VM restored from a snapshot, a thread
 * moved to an unsynchronised core) must be caught, not extrapolated. */
static void jump_and_check(int64_t ticks, unsigned faults_before) {
    tw__clock_test_jump(ticks);
    (void)agrees_for(20);
    assert_int_equal(tw__clock_faults(), faults_before + 1);
}

static void test_jumps_are_caught_and_three_give_up(void **state) {
    if (!machine_has_tsc_clock()) skip();
    wait_for_tsc();
    assert_int_equal(tw__clock_source(), TW_CLOCK_TSC);
    jump_and_check(-4000000000ll, 0); /* backwards ~2 s: the window underflows */
    wait_for_tsc();
    assert_int_equal(tw__clock_source(), TW_CLOCK_TSC); /* recalibrated after one fault */
    jump_and_check(40000000000ll, 1); /* forwards ~20 s: past the window */
    wait_for_tsc();
    (void)agrees_for(150);
    jump_and_check(-40000000000ll, 2);
    assert_int_equal(tw__clock_source(), TW_CLOCK_SYSTEM); /* three strikes */
    (void)agrees_for(150);
    assert_int_equal(tw__clock_source(), TW_CLOCK_SYSTEM);
}

/* A jump smaller than the window is caught at the renewal that ends it:
 * the exposure is bounded by the window, and the rate is not corrupted. */
static void test_small_forward_jump_caught_at_renewal(void **state) {
    if (!machine_has_tsc_clock()) skip();
    wait_for_tsc();
    tw__clock_test_jump(20000000ll); /* ~10 ms of ticks at 2 GHz */
    for (int i = 0; i < 30 && tw__clock_faults() == 0; i++) {
        (void)tw__clock_ns();
        sleep_ms(10);
    }
    assert_int_equal(tw__clock_faults(), 1);
    wait_for_tsc();
    assert_int_equal(tw__clock_source(), TW_CLOCK_TSC);
    (void)agrees_for(250);
}

static void *reader(void *arg) {
    (void)arg;
    (void)agrees_for(250);
    return NULL;
}

static void test_threads_each_anchor(void **state) {
    wait_for_tsc();
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, reader, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(tw__clock_faults(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_tsc_path_where_the_machine_allows, reset),
        cmocka_unit_test_setup(test_agrees_with_realtime_across_renewals, reset),
        cmocka_unit_test_setup(test_system_clock_when_forced, reset),
        cmocka_unit_test_setup(test_jumps_are_caught_and_three_give_up, reset),
        cmocka_unit_test_setup(test_small_forward_jump_caught_at_renewal, reset),
        cmocka_unit_test_setup(test_threads_each_anchor, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
