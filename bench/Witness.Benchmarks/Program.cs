using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(ZfsSync.Witness.Benchmarks.PlannerBenchmarks).Assembly).Run(args);
