// The workload of work.c in Go: THREADS goroutines each call work() ITERS
// times; work() is the same small function with one event pair, a
// runtime/trace region (StartRegion + End). With TRACEFILE, runtime/trace
// records the whole loop into it; without, the regions are the untraced
// no-ops. Prints what work.c prints: ns per call (wall, median over
// goroutines) and the CPU time of the worker goroutines, each locked to
// its OS thread for the loop.
//
//	work-go ITERS THREADS SPIN [TRACEFILE]
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/trace"
	"sort"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is this OS thread's CPU time (CLOCK_THREAD_CPUTIME_ID), in s.
func threadCPU() float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

var spin int
var sink uint64

//go:noinline
func work(ctx context.Context, i uint64) uint64 {
	r := trace.StartRegion(ctx, "work")
	x := i * 0x9E3779B97F4A7C15
	for k := 0; k < spin; k++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	x ^= x >> 29
	r.End()
	return x
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: work-go ITERS THREADS SPIN [TRACEFILE]")
		os.Exit(2)
	}
	iters, _ := strconv.Atoi(os.Args[1])
	n, _ := strconv.Atoi(os.Args[2])
	spin, _ = strconv.Atoi(os.Args[3])
	if len(os.Args) > 4 {
		f, err := os.Create(os.Args[4])
		if err != nil {
			panic(err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			panic(err)
		}
		defer trace.Stop()
	}
	ctx := context.Background()
	ns := make([]float64, n)
	sums := make([]uint64, n)
	cpu := make([]float64, n)
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var s uint64
			c0 := threadCPU()
			t0 := time.Now()
			for i := 0; i < iters; i++ {
				s += work(ctx, uint64(i))
			}
			ns[g] = float64(time.Since(t0).Nanoseconds()) / float64(iters)
			cpu[g] = threadCPU() - c0
			sums[g] = s
		}(g)
	}
	wg.Wait()
	wcpu := 0.0
	for g, s := range sums {
		sink += s
		wcpu += cpu[g]
	}
	sort.Float64s(ns)
	med := ns[n/2]
	if n%2 == 0 {
		med = (ns[n/2-1] + ns[n/2]) / 2
	}
	fmt.Printf("ns_per_call=%.2f worker_cpu=%.4f\n", med, wcpu)
}
