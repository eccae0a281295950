using Microsoft.Extensions.Options;

namespace CcxProxy.Limits;

/// <summary>Settings under <c>Limits</c> (docs/configuration.md, docs/access.md).</summary>
public sealed class LimitsSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Limits";

    /// <summary>How long one limit decision waits on Redis before the outage behaviour applies, in milliseconds (default 250).</summary>
    public int RedisTimeoutMilliseconds { get; set; } = 250;

    /// <summary>
    /// What limits do while Redis is unreachable: <c>open</c> (default) decides in each replica's memory, <c>closed</c>
    /// refuses limited requests with 503 until Redis is back.
    /// </summary>
    public string OnRedisFailure { get; set; } = "open";

    /// <summary>True for <c>closed</c>.</summary>
    public bool FailsClosed => string.Equals(OnRedisFailure, "closed", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Checks <c>Limits</c> at start: a typo in <c>OnRedisFailure</c> used to mean "open", the weaker of the two, without a
/// word; now it stops the start naming the setting.
/// </summary>
public sealed class LimitsSettingsValidation : IValidateOptions<LimitsSettings>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, LimitsSettings options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.RedisTimeoutMilliseconds < 1)
        {
            failures.Add($"{LimitsSettings.Section}:RedisTimeoutMilliseconds must be at least 1 (was {options.RedisTimeoutMilliseconds})");
        }

        if (!string.Equals(options.OnRedisFailure, "open", StringComparison.OrdinalIgnoreCase) && !options.FailsClosed)
        {
            failures.Add($"{LimitsSettings.Section}:OnRedisFailure must be open or closed (was '{options.OnRedisFailure}')");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
