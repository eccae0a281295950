using Microsoft.Extensions.Options;

namespace CcxProxy.Responses;

/// <summary>Settings under <c>Responses</c>: how long the gateway keeps OpenAI Responses answers (docs/configuration.md).</summary>
public sealed class ResponsesSettings
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Responses";

    /// <summary>How long a response asked to be stored (<c>store</c> not false) stays readable, in seconds (default 30 days, as OpenAI keeps them).</summary>
    public double StoreSeconds { get; set; } = TimeSpan.FromDays(30).TotalSeconds;
}

/// <summary>Checks <c>Responses</c> at start.</summary>
public sealed class ResponsesSettingsValidation : IValidateOptions<ResponsesSettings>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, ResponsesSettings options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.StoreSeconds is > 0 and <= 366 * 24 * 3600
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{ResponsesSettings.Section}:StoreSeconds must be more than 0 and at most a year (was {options.StoreSeconds})");
    }
}
