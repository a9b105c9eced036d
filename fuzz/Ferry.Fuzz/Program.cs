using Ferry.Fuzz;

// ferry-fuzz TARGET                    run under AFL++ (scripts/fuzz-campaign.sh): one input per fork, from stdin
// ferry-fuzz --replay TARGET FILE...    run inputs (a crash's reproducer, a corpus) and say how each ended
// ferry-fuzz --write-seeds SNAPSHOT DIR write the seed corpus of every target, from a real snapshot
// ferry-fuzz --list                     the targets
switch (args)
{
    case ["--list"]:
        foreach (var t in FuzzTargets.All) Console.WriteLine($"{t.Name,-16} {t.Takes}");
        return 0;
    case ["--write-seeds", var snapshot, var dir]:
        foreach (var (target, seeds) in Seeds.Build(File.ReadAllBytes(snapshot)))
        {
            Directory.CreateDirectory(Path.Combine(dir, target));
            foreach (var (name, bytes) in seeds) File.WriteAllBytes(Path.Combine(dir, target, name), bytes);
        }
        return 0;
    case ["--replay", var name, .. var files]:
    {
        var target = FuzzTargets.Named(name);
        int crashes = 0;
        foreach (var file in files)
        {
            try { target.Run(File.ReadAllBytes(file)); Console.WriteLine($"{file}: accepted"); }
            catch (Exception e) when (Refusals.IsClean(e)) { Console.WriteLine($"{file}: refused: {e.Message}"); }
            catch (Exception e) { crashes++; Console.WriteLine($"{file}: CRASH {e.GetType().Name}: {e.Message}\n{e.StackTrace}"); }
        }
        return crashes == 0 ? 0 : 1;
    }
    case [var name]:
    {
        // Instrumented code may run only inside Run, which points SharpFuzz at AFL's coverage map;
        // FuzzTargets' static initializer already runs Ferry code, so the target is looked up there.
        // A clean refusal is a normal outcome; anything else escapes and AFL records a crash.
        FuzzTarget? target = null;
        SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
        {
            target ??= FuzzTargets.Named(name);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            try { target.Run(copy.ToArray()); }
            catch (Exception e) when (Refusals.IsClean(e)) { }
        });
        return 0;
    }
    default:
        Console.Error.WriteLine("usage: ferry-fuzz TARGET | --replay TARGET FILE... | --write-seeds SNAPSHOT DIR | --list");
        return 2;
}
