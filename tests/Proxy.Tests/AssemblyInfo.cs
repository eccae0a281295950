// End-to-end tests start real servers on free ports; fixtures are independent, so they run in parallel.
[assembly: NUnit.Framework.Parallelizable(NUnit.Framework.ParallelScope.Fixtures)]
