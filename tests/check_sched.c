/*
 * Checks a trace of tests/sched_app for kernel scheduling records:
 *   check_sched FILE perf|schedstat|off [HZ]
 * - the header names the source (and the CPU sampling rate HZ, when given:
 *   then CPU samples must be present);
 * - every thread that logged its /proc/thread-self/schedstat ("schedstat"
 *   log: ONCPU RUNQ, ns) has kernel records, and they agree with it:
 *   perf: the on-CPU time summed from switch-in/switch-out pairs up to the
 *   log is within 15% + 3 ms of the kernel's figure; records are in time
 *   order; states are 1 or 2 and some switch-outs are sleeps;
 *   schedstat: samples never decrease and the last one before the log is
 *   at most the logged figure and not far below it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trace_load.h"

struct thread {
	uint32_t tid;
	double oncpu_ns;      /* perf: summed so far */
	double in_at;         /* perf: switch-in ns, <0 when off CPU */
	uint64_t last_kernel; /* ts of the last kernel record, ticks */
	uint64_t ins, outs, sleeps, preempts, stats;
	uint64_t stat_oncpu, stat_runq; /* last sched_stat */
	int logged;
};

static struct thread threads[256];
static int nthreads;

static struct thread *thread_of(uint32_t tid)
{
	for (int i = 0; i < nthreads; i++)
		if (threads[i].tid == tid)
			return &threads[i];
	if (nthreads == 256)
		return NULL;
	threads[nthreads] = (struct thread){.tid = tid, .in_at = -1};
	return &threads[nthreads++];
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: check_sched FILE perf|schedstat|off [HZ]\n");
		return 2;
	}
	const char *want = argv[2];
	int hz = argc > 3 ? atoi(argv[3]) : -1;
	struct loaded t;
	int rc = load_file(&t, argv[1]);
	CHECKF(rc == 0, "%s: %s", argv[1], t.r.error);
	const struct cprof_header *h = &t.r.header;
	int source = strcmp(want, "perf") == 0        ? CPROF_SCHED_SOURCE_PERF
		     : strcmp(want, "schedstat") == 0 ? CPROF_SCHED_SOURCE_SCHEDSTAT
						      : CPROF_SCHED_SOURCE_OFF;
	CHECKF(h->sched_source == source, "header sched source %u, want %s", h->sched_source, want);
	if (hz >= 0)
		CHECKF(h->has_cpu_hz && h->cpu_hz == (uint32_t)hz, "header cpu_hz %u, want %d", h->cpu_hz, hz);
	double ns_per_tick = 1e9 / (double)h->ticks_per_sec;
	uint64_t samples = 0, unordered = 0, logs = 0, busy_threads = 0, sampled_threads = 0;
	for (size_t i = 0; i < t.n; i++) {
		const struct trace_event *e = &t.ev[i].ev;
		struct thread *th = thread_of(e->tid);
		if (!th)
			continue;
		double ns = (double)e->ts * ns_per_tick;
		switch (e->kind) {
		case CPROF_EV_SCHED_SWITCH_IN:
		case CPROF_EV_SCHED_SWITCH_OUT:
		case CPROF_EV_SCHED_STAT:
			if (e->ts < th->last_kernel)
				unordered++;
			th->last_kernel = e->ts;
			break;
		}
		switch (e->kind) {
		case CPROF_EV_SCHED_SWITCH_IN:
			th->ins++;
			CHECKF(e->args[0] < 4096, "cpu %llu", (unsigned long long)e->args[0]);
			th->in_at = ns;
			break;
		case CPROF_EV_SCHED_SWITCH_OUT:
			th->outs++;
			CHECKF(e->args[1] == CPROF_SCHED_PREEMPTED || e->args[1] == CPROF_SCHED_SLEEPING, "state %llu",
			       (unsigned long long)e->args[1]);
			if (e->args[1] == CPROF_SCHED_SLEEPING)
				th->sleeps++;
			else
				th->preempts++;
			if (th->in_at >= 0)
				th->oncpu_ns += ns - th->in_at;
			th->in_at = -1;
			break;
		case CPROF_EV_SCHED_STAT:
			th->stats++;
			CHECKF(e->args[0] >= th->stat_oncpu && e->args[1] >= th->stat_runq,
			       "tid %u: schedstat went backwards", e->tid);
			th->stat_oncpu = e->args[0];
			th->stat_runq = e->args[1];
			break;
		case CPROF_EV_CPU_SAMPLE:
			samples++;
			break;
		case CPROF_EV_LOG: {
			if (strcmp(trace_reader_string(&t.r, e->args[0]) ?: "", "schedstat") != 0)
				break;
			unsigned long long on = 0, rq = 0;
			if (sscanf(t.ev[i].msg, "%llu %llu", &on, &rq) != 2)
				break;
			logs++;
			th->logged = 1;
			double got = th->oncpu_ns + (th->in_at >= 0 ? ns - th->in_at : 0);
			printf("tid %u: kernel on-CPU %.1f ms; %s: ins %llu outs %llu (sleep %llu, preempt %llu) "
			       "stats %llu, on-CPU %.1f ms\n",
			       e->tid, on / 1e6, want, (unsigned long long)th->ins, (unsigned long long)th->outs,
			       (unsigned long long)th->sleeps, (unsigned long long)th->preempts,
			       (unsigned long long)th->stats,
			       source == CPROF_SCHED_SOURCE_PERF ? got / 1e6 : th->stat_oncpu / 1e6);
			/* The main thread ran before the capture began (loading). */
			int main_thread = e->tid == h->pid;
			if (source == CPROF_SCHED_SOURCE_PERF) {
				/* unless the kernel dropped records (counted in the file) */
				CHECKF(t.r.sched_lost || main_thread || (th->ins >= 1 && th->outs >= 1),
				       "tid %u: no switch records", e->tid);
				double diff = got - (double)on;
				if (t.r.sched_lost) /* the kernel dropped records: sums are short */
					CHECKF(diff < 0.15 * (double)on + 3e6, "tid %u: perf on-CPU %.2f ms > schedstat %.2f ms",
					       e->tid, got / 1e6, on / 1e6);
				else if (!main_thread)
					CHECKF(diff < 0.15 * (double)on + 3e6 && -diff < 0.15 * (double)on + 3e6,
					       "tid %u: perf on-CPU %.2f ms vs schedstat %.2f ms", e->tid, got / 1e6,
					       on / 1e6);
			} else if (source == CPROF_SCHED_SOURCE_SCHEDSTAT) {
				/* Sampled every 10 ms by the drainer, which a loaded
				 * machine may stall (its first symbolization): most
				 * threads with 20 ms of CPU have a sample (counted
				 * below), none after the log's figure. */
				if (on >= 20000000 && !main_thread) {
					busy_threads++;
					sampled_threads += th->stats >= 1;
				}
				CHECKF(th->stat_oncpu <= on + 1000000, "tid %u: sample %.2f ms after log %.2f ms", e->tid,
				       th->stat_oncpu / 1e6, on / 1e6);
			} else {
				CHECKF(th->ins + th->outs + th->stats == 0, "tid %u: kernel records with source off", e->tid);
			}
			break;
		}
		}
	}
	CHECKF(logs >= 1, "no schedstat logs in the trace");
	CHECKF(unordered == 0, "%llu kernel records out of time order", (unsigned long long)unordered);
	if (source == CPROF_SCHED_SOURCE_PERF) {
		uint64_t sleeps = 0;
		for (int i = 0; i < nthreads; i++)
			sleeps += threads[i].sleeps;
		CHECKF(sleeps > 0, "no sleeping switch-outs");
	}
	if (hz > 0)
		CHECKF(samples > 0, "no CPU samples");
	CHECKF(sampled_threads * 2 >= busy_threads, "schedstat: %llu of %llu busy threads sampled",
	       (unsigned long long)sampled_threads, (unsigned long long)busy_threads);
	printf("%llu CPU samples, %llu kernel records lost\n", (unsigned long long)samples,
	       (unsigned long long)t.r.sched_lost);
	trace_reader_close(&t.r);
	free(t.ev);
	return check_done("check_sched");
}
