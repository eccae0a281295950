namespace CcxProxy.Cli;

/// <summary>Where a CLI run reads and writes; tests replace any part.</summary>
internal sealed class CliContext
{
    /// <summary>Standard output.</summary>
    public required TextWriter Out { get; init; }

    /// <summary>Standard error.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Where <c>appsettings.json</c> and relative paths are found; the server's content root is the same.</summary>
    public string WorkingDirectory { get; init; } = Directory.GetCurrentDirectory();

    /// <summary>Resolves <c>env:NAME</c> in channel files; null: the configuration (environment variables included), as the server does.</summary>
    public Func<string, string?>? Environment { get; init; }

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How long a command may wait on Redis in all.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(20);
}
