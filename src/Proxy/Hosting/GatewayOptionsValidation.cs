using CcxProxy.Routing;
using Microsoft.Extensions.Options;

namespace CcxProxy.Hosting;

/// <summary>
/// Checks the <c>Proxy</c> section when the gateway starts (<c>ValidateOnStart</c>): a value out of range stops the
/// start with a message naming the setting, instead of being clamped or failing on the first request.
/// </summary>
public sealed class GatewayOptionsValidation : IValidateOptions<GatewayOptions>
{
    private const double MaxKeepAliveSeconds = 24 * 3600;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.MaxRequestBodyBytes < 1 || options.MaxRequestBodyBytes >= Array.MaxLength)
        {
            // The body is held in one array.
            failures.Add($"{GatewayOptions.Section}:MaxRequestBodyBytes must be from 1 to {Array.MaxLength - 1} (was {options.MaxRequestBodyBytes})");
        }

        if (options.MaxResponseBodyBytes < 1)
        {
            failures.Add($"{GatewayOptions.Section}:MaxResponseBodyBytes must be at least 1 (was {options.MaxResponseBodyBytes})");
        }

        if (!(options.StreamKeepAliveSeconds is > 0 and <= MaxKeepAliveSeconds))
        {
            // A keep-alive is for proxies that drop idle connections after seconds or minutes; a day is far beyond.
            failures.Add($"{GatewayOptions.Section}:StreamKeepAliveSeconds must be more than 0 and at most {MaxKeepAliveSeconds} (was {options.StreamKeepAliveSeconds})");
        }

        if (options.MaxAttempts < 1)
        {
            failures.Add($"{GatewayOptions.Section}:MaxAttempts must be at least 1 (was {options.MaxAttempts})");
        }

        if (!(options.RetryDeadlineSeconds > 0))
        {
            failures.Add($"{GatewayOptions.Section}:RetryDeadlineSeconds must be more than 0 (was {options.RetryDeadlineSeconds})");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Checks the <c>Routing</c> section when the gateway starts, the breaker settings included.</summary>
public sealed class RoutingOptionsValidation : IValidateOptions<RoutingOptions>
{
    private const double MinCooldownSyncSeconds = 0.05;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (!(options.CooldownSyncSeconds >= MinCooldownSyncSeconds))
        {
            // Each sync is a Redis round trip per replica: a smaller interval would only load Redis.
            failures.Add($"{RoutingOptions.Section}:CooldownSyncSeconds must be at least {MinCooldownSyncSeconds} (was {options.CooldownSyncSeconds})");
        }

        try
        {
            options.Breaker.ToOptions();
        }
        catch (ArgumentOutOfRangeException e)
        {
            // BreakerOptions names its own member (Window); the file says WindowSeconds.
            var setting = e.ParamName is { } member && typeof(BreakerSettings).GetProperty(member) is null ? member + "Seconds" : e.ParamName;
            failures.Add($"{RoutingOptions.Section}:Breaker:{setting} {e.Message.Split(" (Parameter", 2)[0]} (was {e.ActualValue})");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
