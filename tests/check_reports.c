/*
 * Asserts on the viewer's JSON report documents (cprof-trace -report=NAME
 * -format=json, and the web UI's /api/report).
 *
 *   check_reports equal A.json B.json   the same document (numbers identical)
 *   check_reports blocking DIR [nogroups]  DIR/NAME.json from tests/blocking_app
 *   check_reports hello DIR             DIR/NAME.json from examples/hello
 *   check_reports demo DIR INTERPOSE    DIR/NAME.json from examples/pprof-demo
 *   check_reports cpu DIR               DIR/cpu*.json from tests/sched_app burn:
 *                                      3:1, and ranges that split the samples
 *   check_reports view VIEW.json META.json  /api/view of a perf trace of
 *                                      sched_app burn: the burner's states and
 *                                      samples, CPU rows, running counts
 *   check_reports state FILE PAGE WORD...  the UI's #state JSON (from a DOM
 *                                      dump) is PAGE and lists each WORD
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slurp.h"

static cJSON *load_path(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	if (!text) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	cJSON *doc = cJSON_ParseWithLength(text, len);
	free(text);
	if (!doc) {
		fprintf(stderr, "%s: not JSON\n", path);
		exit(1);
	}
	return doc;
}

static cJSON *load(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	return load_path(path);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The entry of array `list` whose `key` is `value`. */
static const cJSON *find(const cJSON *doc, const char *list, const char *key, const char *value)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, list)) if (strcmp(str(e, key), value) == 0) return e;
	return NULL;
}

/* The first profile entry whose innermost frame is `fn`. */
static const cJSON *stack_with_leaf(const cJSON *doc, const char *fn)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "stacks"))
	{
		const cJSON *leaf = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "frames"), 0);
		if (leaf && strcmp(str(leaf, "function"), fn) == 0)
			return s;
	}
	return NULL;
}

/* Each time class of a row is within its total, and they add up to it:
 * exactly for a thread whose time came from the kernel's records (a
 * partition of its window); without them exec is clamped at 0 when waits
 * overlap (e.g. a join during a sleep). */
static void check_time_row(const cJSON *o, int partition)
{
	double total = num(o, "total_ns"), sum = num(o, "exec_ns");
	static const char *const w[] = {"sync_ns", "net_ns", "syscall_ns", "sched_ns", "other_ns"};
	for (int i = 0; i < 5; i++) {
		CHECK(num(o, w[i]) >= 0);
		sum += num(o, w[i]);
	}
	CHECK(total >= 0);
	CHECK(sum >= total - 1);
	if (partition)
		CHECKF(sum <= total + 1, "%s %.0f: classes sum to %.0f of %.0f ns", str(o, "name"), num(o, "tid"), sum, total);
}

/* groups: the start routines are the program's (not under ASan, whose
 * pthread_create interceptor hands the tracer its own trampoline) */
static void check_blocking(const char *dir, int groups)
{
	cJSON *threads = load(dir, "threads"), *sync = load(dir, "sync"), *net = load(dir, "net"),
	      *sys = load(dir, "syscall"), *sched = load(dir, "sched");
	/* threads grouped by start routine, with the program's own routines */
	const cJSON *g = find(threads, "groups", "routine", "contender");
	CHECK(!groups || (g && num(g, "count") == 4));
	CHECK(!groups || find(threads, "groups", "routine", "consumer"));
	CHECK(find(threads, "groups", "routine", "main"));
	const cJSON *e;
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(threads, "groups"))
	{
		int all_kernel = 1; /* a group of partitions is one */
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "threads"))
		{
			int kernel = strcmp(str(e, "time_source"), "interposed") != 0;
			check_time_row(e, kernel);
			all_kernel &= kernel;
		}
		check_time_row(g, all_kernel);
	}
	if (groups) {
	/* the consumer waits on its condition variable most of its life */
	g = find(threads, "groups", "routine", "consumer");
	CHECK(num(g, "sync_ns") > 0.5 * num(g, "total_ns"));
	/* the net reader waits in recv, the sleeper in nanosleep */
	g = find(threads, "groups", "routine", "net_reader");
	CHECK(num(g, "net_ns") > 0.5 * num(g, "total_ns"));
	g = find(threads, "groups", "routine", "sleeper");
	CHECK(num(g, "syscall_ns") > 0.5 * num(g, "total_ns"));
	}
	/* profiles by stack, the blocking call innermost, its caller named */
	const cJSON *s = stack_with_leaf(sync, "pthread_cond_wait");
	CHECK(s && num(s, "count") >= 5 && num(s, "total_ns") >= 5 * 15e6);
	CHECK(strcmp(str(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "frames"), 1), "function"), "consumer") == 0);
	CHECK(num(s, "mean_ns") == (double)((long long)num(s, "total_ns") / (long long)num(s, "count")));
	CHECK(stack_with_leaf(sync, "pthread_mutex_lock"));
	CHECK(stack_with_leaf(net, "recv"));
	CHECK(!stack_with_leaf(net, "nanosleep"));
	CHECK(stack_with_leaf(sys, "nanosleep"));
	CHECK(!stack_with_leaf(sys, "pthread_cond_wait"));
	/* the profile totals are the sums of their stacks */
	double total = 0, count = 0;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(sync, "stacks"))
	{
		total += num(s, "total_ns");
		count += num(s, "count");
	}
	CHECK(total == num(sync, "total_ns") && count == num(sync, "count"));
	/* wake-ups were measured: contended mutexes and the condvar */
	CHECK(num(sched, "count") > 0);
	CHECK(stack_with_leaf(sched, "pthread_mutex_lock") || stack_with_leaf(sched, "pthread_cond_wait"));
	cJSON_Delete(threads);
	cJSON_Delete(sync);
	cJSON_Delete(net);
	cJSON_Delete(sys);
	cJSON_Delete(sched);
}

static void check_hello(const char *dir)
{
	cJSON *tasks = load(dir, "tasks"), *regions = load(dir, "regions"), *task = load(dir, "task");
	/* examples/hello: 200 "job" tasks, each with "parse" and "compute" */
	const cJSON *job = find(tasks, "tasks", "name", "job");
	CHECK(job && num(job, "count") == 200);
	double hist = 0;
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItem(job, "histogram"))
	{
		CHECK(num(b, "lo_ns") < num(b, "hi_ns"));
		hist += num(b, "count");
	}
	CHECK(hist == 200);
	const cJSON *parse = find(regions, "regions", "name", "parse");
	const cJSON *compute = find(regions, "regions", "name", "compute");
	CHECK(parse && compute);
	CHECK(num(parse, "count") == 200 && num(compute, "count") == 200);
	CHECK(strcmp(str(parse, "task"), "job") == 0);
	/* the drill-down: tasks named job, their regions and logs in time order */
	CHECK(strcmp(str(task, "name"), "job") == 0);
	const cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(task, "tasks"), 0);
	CHECK(k);
	int regions_seen = 0, logs_seen = 0;
	double last = -1;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(k, "events"))
	{
		CHECK(num(e, "ts_ns") >= last);
		last = num(e, "ts_ns");
		regions_seen += strcmp(str(e, "type"), "region") == 0;
		logs_seen += strcmp(str(e, "type"), "log") == 0;
	}
	CHECK(regions_seen >= 2 && logs_seen >= 1);
	cJSON_Delete(tasks);
	cJSON_Delete(regions);
	cJSON_Delete(task);
}

/* examples/pprof-demo under ab load; interpose: blocking calls were observed */
static void check_demo(const char *dir, int interpose)
{
	cJSON *regions = load(dir, "regions"), *tasks = load(dir, "tasks"), *sync = load(dir, "sync"),
	      *threads = load(dir, "threads");
	/* regions are keyed by name and enclosing task */
	double fib = 0, recursive = 0, iterative = 0, concat = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(regions, "regions"))
	{
		if (strcmp(str(e, "task"), "request") != 0)
			continue;
		const char *n = str(e, "name");
		if (strcmp(n, "fib") == 0)
			fib += num(e, "total_ns");
		else if (strcmp(n, "fib_recursive") == 0)
			recursive += num(e, "total_ns");
		else if (strcmp(n, "fib_iterative") == 0)
			iterative += num(e, "total_ns");
		else if (strcmp(n, "concat") == 0)
			concat += num(e, "count");
	}
	/* fib_recursive dominates the fib region's time */
	CHECKF(recursive > 0.5 * fib && recursive > 10 * iterative, "fib %.0f recursive %.0f iterative %.0f", fib,
	       recursive, iterative);
	/* concat requests ran as (parts of) request tasks */
	CHECK(concat > 0);
	const cJSON *req = find(tasks, "tasks", "name", "request");
	CHECK(req && num(req, "count") > 10);
	/* the worker pool waits for work in pthread_cond_wait, called from worker_main */
	if (interpose) {
		int pool_waits = 0;
		const cJSON *s;
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(sync, "stacks"))
		{
			const cJSON *frames = cJSON_GetObjectItem(s, "frames"), *f;
			if (strcmp(str(cJSON_GetArrayItem(frames, 0), "function"), "pthread_cond_wait") != 0)
				continue;
			cJSON_ArrayForEach(f, frames) if (strcmp(str(f, "function"), "worker_main") == 0) pool_waits +=
				(int)num(s, "count");
		}
		CHECKF(pool_waits > 0, "no pthread_cond_wait under worker_main in the sync profile");
		CHECK(find(threads, "groups", "routine", "worker"));
	}
	cJSON_Delete(regions);
	cJSON_Delete(tasks);
	cJSON_Delete(sync);
	cJSON_Delete(threads);
}

/* flat samples of function fn in a cpu document */
static double cpu_flat(const cJSON *doc, const char *fn)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(doc, "functions"))
		if (strcmp(str(f, "function"), fn) == 0)
			return num(f, "flat");
	return 0;
}

/* The cpu analysis on sched_app burn (burn_a 3x burn_b's iterations):
 * cpu.json the whole trace, cpu-a.json and cpu-b.json two ranges that cut
 * it in two at one ns, cpu-none.json a range after its end. */
static void check_cpu(const char *dir)
{
	cJSON *all = load(dir, "cpu"), *a = load(dir, "cpu-a"), *b = load(dir, "cpu-b"), *none = load(dir, "cpu-none");
	double n = num(all, "samples"), burn_a = cpu_flat(all, "burn_a"), burn_b = cpu_flat(all, "burn_b");
	CHECK(n >= 40);
	CHECK(num(all, "cpu_ns") == n * num(all, "period_ns"));
	CHECK(num(all, "period_ns") == 1e9 / num(all, "cpu_hz"));
	double share = burn_a + burn_b > 0 ? 100 * burn_a / (burn_a + burn_b) : -1;
	/* three standard deviations of a binomial share of 0.75 over the
	 * samples: the machine is shared, so the samples may be few */
	double tol = burn_a + burn_b > 0 ? 300 * sqrt(0.75 * 0.25 / (burn_a + burn_b)) : 0;
	printf("cpu: %.0f samples, burn_a %.1f%% of burn_a + burn_b (want 75 +- %.1f)\n", n, share, tol);
	CHECK(share >= 75 - tol && share <= 75 + tol);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(all, "range")));
	CHECK(cJSON_IsObject(cJSON_GetObjectItem(a, "range")));
	/* every sample in exactly one of the two halves, none outside */
	printf("cpu: ranges: %.0f + %.0f samples of %.0f; after the end: %.0f\n", num(a, "samples"), num(b, "samples"), n,
	       num(none, "samples"));
	CHECK(num(a, "samples") > 0 && num(b, "samples") > 0);
	CHECK(num(a, "samples") + num(b, "samples") == n);
	CHECK(cpu_flat(a, "burn_a") + cpu_flat(b, "burn_a") == burn_a);
	CHECK(num(none, "samples") == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(none, "stacks")) == 0);
	cJSON_Delete(all);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(none);
}

/* The whole-trace /api/view of sched_app burn with perf records. */
static void check_view(const char *view_path, const char *meta_path)
{
	cJSON *v = load_path(view_path), *m = load_path(meta_path);
	CHECK(num(m, "states") > 0 && num(m, "cpus") >= 1 && num(m, "samples") > 0);
	int running = -1, runnable = -1, k = 0;
	const cJSON *n;
	cJSON_ArrayForEach(n, cJSON_GetObjectItem(m, "state_names"))
	{
		if (strcmp(n->valuestring, "running") == 0)
			running = k;
		if (strcmp(n->valuestring, "runnable") == 0)
			runnable = k;
		k++;
	}
	CHECK(running >= 0 && runnable >= 0);
	int burner = -1;
	k = 0;
	cJSON_ArrayForEach(n, cJSON_GetObjectItem(m, "threads"))
	{
		if (strcmp(str(n, "group"), "burner") == 0)
			burner = k;
		k++;
	}
	if (burner < 0) { /* sanitizer builds: ASan's pthread_create hides the routine; the one other thread */
		k = 0;
		cJSON_ArrayForEach(n, cJSON_GetObjectItem(m, "threads"))
		{
			if (burner < 0 && strcmp(str(n, "group"), "main") != 0)
				burner = k;
			k++;
		}
	}
	CHECKF(burner >= 0, "no thread of group burner in the meta");
	const cJSON *states = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "states"), burner);
	const cJSON *samples = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "samples"), burner);
	int n_states = cJSON_GetArraySize(states), saw_running = 0, ordered = 1;
	double last_end = -1, dur = num(m, "duration_ns");
	const cJSON *sp;
	cJSON_ArrayForEach(sp, states)
	{
		double b = cJSON_GetArrayItem(sp, 0)->valuedouble, e = cJSON_GetArrayItem(sp, 1)->valuedouble;
		int cls = cJSON_GetArrayItem(sp, 2)->valueint;
		saw_running |= cls == running;
		/* a partition: in time order, not overlapping, inside the trace */
		int ok = b >= last_end && e > b && b >= 0 && e <= dur + 1;
		if (!ok && ordered)
			fprintf(stderr, "view: state run [%.0f, %.0f) class %d after one ending at %.0f (trace %.0f ns)\n", b, e,
				cls, last_end, dur);
		ordered &= ok;
		last_end = e;
	}
	printf("view: burner has %d state runs (running seen: %d), %d sample ticks\n", n_states, saw_running,
	       cJSON_GetArraySize(samples));
	CHECK(n_states > 0 && saw_running && ordered);
	CHECK(cJSON_GetArraySize(samples) > 0);
	/* the burner ran on some CPU, and at some point one thread was running */
	int cpu_spans = 0;
	const cJSON *lane;
	cJSON_ArrayForEach(lane, cJSON_GetObjectItem(v, "cpus"))
	{
		cJSON_ArrayForEach(sp, lane)
			cpu_spans += cJSON_GetArrayItem(sp, 2)->valueint == burner;
	}
	CHECK(cpu_spans > 0);
	int most = 0;
	cJSON_ArrayForEach(sp, cJSON_GetObjectItem(v, "counts"))
	{
		int r = cJSON_GetArrayItem(sp, 1)->valueint;
		most = r > most ? r : most;
		CHECK(r >= 0 && cJSON_GetArrayItem(sp, 2)->valueint >= 0);
	}
	CHECK(most >= 1);
	cJSON_Delete(v);
	cJSON_Delete(m);
}

static int check_state(const char *path, const char *page, char **words, int nwords)
{
	size_t len;
	char *html = slurp(path, &len);
	CHECK(html);
	const char *p = html ? strstr(html, "<pre id=\"state\"") : NULL;
	CHECK(p);
	if (!p)
		return 1;
	p = strchr(p, '>');
	const char *end = p ? strstr(p, "</pre>") : NULL;
	CHECK(p && end);
	/* the DOM dump escapes the JSON's text: &quot; and &amp; come back */
	char *json = strndup(p + 1, (size_t)(end - p - 1));
	char *o = json;
	for (const char *i = json; *i;) {
		if (strncmp(i, "&quot;", 6) == 0)
			*o++ = '"', i += 6;
		else if (strncmp(i, "&amp;", 5) == 0)
			*o++ = '&', i += 5;
		else if (strncmp(i, "&lt;", 4) == 0)
			*o++ = '<', i += 4;
		else if (strncmp(i, "&gt;", 4) == 0)
			*o++ = '>', i += 4;
		else
			*o++ = *i++;
	}
	*o = 0;
	cJSON *st = cJSON_Parse(json);
	CHECK(st);
	CHECK(strcmp(str(st, "page"), page) == 0);
	char *flat = cJSON_PrintUnformatted(st);
	for (int i = 0; i < nwords; i++) {
		char quoted[256];
		snprintf(quoted, sizeof quoted, "\"%s\"", words[i]);
		if (!strstr(flat, quoted)) {
			fprintf(stderr, "state of %s lacks %s: %s\n", page, quoted, flat);
			check_failed++;
		}
	}
	if (strcmp(page, "timeline") == 0) {
		CHECK(cJSON_IsTrue(cJSON_GetObjectItem(st, "loaded")));
		CHECK(num(st, "spans") > 0);
	}
	free(flat);
	cJSON_Delete(st);
	free(json);
	free(html);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "equal") == 0) {
		cJSON *a = load_path(argv[2]), *b = load_path(argv[3]);
		CHECK(cJSON_Compare(a, b, 1));
		cJSON_Delete(a);
		cJSON_Delete(b);
	} else if ((argc == 3 || argc == 4) && strcmp(argv[1], "blocking") == 0) {
		check_blocking(argv[2], argc == 3 || strcmp(argv[3], "nogroups") != 0);
	} else if (argc == 3 && strcmp(argv[1], "hello") == 0) {
		check_hello(argv[2]);
	} else if (argc == 4 && strcmp(argv[1], "demo") == 0) {
		check_demo(argv[2], atoi(argv[3]));
	} else if (argc == 4 && strcmp(argv[1], "view") == 0) {
		check_view(argv[2], argv[3]);
	} else if (argc == 3 && strcmp(argv[1], "cpu") == 0) {
		check_cpu(argv[2]);
	} else if (argc >= 4 && strcmp(argv[1], "state") == 0) {
		check_state(argv[2], argv[3], argv + 4, argc - 4);
	} else {
		fprintf(stderr, "usage: check_reports equal A B | blocking DIR | hello DIR | state FILE PAGE WORD...\n");
		return 2;
	}
	return check_done("check_reports");
}
