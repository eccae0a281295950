using Microsoft.Extensions.Options;

namespace CcxProxy.Hosting;

/// <summary>Settings under <c>Channels</c> (docs/configuration.md).</summary>
public sealed class ChannelsSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Channels";

    /// <summary>The channel folder; a relative path is taken from the content root (default <c>channels</c>).</summary>
    public string Directory { get; set; } = "channels";

    /// <summary>How often the channel folder is read again, in seconds (default 1).</summary>
    public double PollIntervalSeconds { get; set; } = 1;
}

/// <summary>Settings under <c>Redis</c> (docs/configuration.md, docs/redis.md).</summary>
public sealed class RedisSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string; empty for none (the in-memory stores of one instance).</summary>
    public string? Configuration { get; set; }

    /// <summary>A PEM file of CA certificates Redis's TLS certificate may chain to, besides the system's.</summary>
    public string? CaCertificate { get; set; }
}

/// <summary>Settings under <c>Access</c> (docs/access.md).</summary>
public sealed class AccessSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Access";

    /// <summary>Failed authentications allowed per client address per minute (default 30).</summary>
    public int MaxFailedAuthPerMinute { get; set; } = 30;
}

/// <summary>Settings under <c>Admin</c> (docs/access.md).</summary>
public sealed class AdminSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Admin";

    /// <summary>The operators' key for <c>/status</c> and <c>/admin/*</c>; none turns those endpoints off (404).</summary>
    public string? AccessKey { get; set; }
}

/// <summary>Checks the host's smaller sections when the gateway starts: a value out of range stops the start, naming the setting.</summary>
public sealed class HostSettingsValidation : IValidateOptions<ChannelsSettings>, IValidateOptions<AccessSettings>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, ChannelsSettings options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            failures.Add($"{ChannelsSettings.Section}:Directory must name a folder");
        }

        if (!(options.PollIntervalSeconds > 0))
        {
            failures.Add($"{ChannelsSettings.Section}:PollIntervalSeconds must be more than 0 (was {options.PollIntervalSeconds})");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, AccessSettings options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.MaxFailedAuthPerMinute >= 1
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{AccessSettings.Section}:MaxFailedAuthPerMinute must be at least 1 (was {options.MaxFailedAuthPerMinute})");
    }
}
