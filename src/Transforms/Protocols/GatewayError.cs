namespace CcxProxy.Transforms.Protocols;

/// <summary>
/// An error the gateway answers with itself, as data: every stage that refuses or fails a request returns one,
/// and one writer (<c>CcxProxy.Transforms.Adapter.ErrorResponse</c>) renders it in the caller's protocol
/// (docs/protocols.md §5) with one set of header rules.
/// </summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Message">What went wrong, for the caller: names no secret.</param>
public sealed record GatewayError(int Status, string Message)
{
    /// <summary>OpenAI's machine-readable <c>code</c> (Anthropic's shape has none); null for none.</summary>
    public string? Code { get; init; }

    /// <summary>How long the caller should wait before it tries again (<c>retry-after</c>, whole seconds, at least 1); null for no hint.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>
    /// Whether retrying the same request can help; false is said as <c>x-should-retry: false</c>, which the
    /// Anthropic and OpenAI SDKs obey (Claude Code otherwise retries a 401 for minutes before it tells the user).
    /// By default false for 401, 402 and 403, which only the caller or an operator can fix.
    /// </summary>
    public bool ShouldRetry { get; init; } = RetryHelps(Status);

    /// <summary>Further headers that describe the refusal (the rate-limit headers of a limit that was hit).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>Whether a retry can help an answer with this status, when nothing else is known: not for 401, 402, 403.</summary>
    public static bool RetryHelps(int status) => status is not (401 or 402 or 403);
}

/// <summary>What a stage hands on: a value, or the <see cref="GatewayError"/> that answers the request instead.</summary>
/// <typeparam name="T">The value's type.</typeparam>
public readonly struct GatewayResult<T> : IEquatable<GatewayResult<T>>
{
    private readonly T? _value;
    private readonly GatewayError? _error;
    private readonly bool _hasValue;

    private GatewayResult(T? value, GatewayError? error, bool hasValue)
    {
        _value = value;
        _error = error;
        _hasValue = hasValue;
    }

    /// <summary>A value.</summary>
    public static GatewayResult<T> Of(T value) => value is null ? throw new ArgumentNullException(nameof(value)) : new(value, null, hasValue: true);

    /// <summary>An error.</summary>
    public static GatewayResult<T> Fail(GatewayError error) => new(default, error ?? throw new ArgumentNullException(nameof(error)), hasValue: false);

    /// <summary>A value.</summary>
#pragma warning disable CA2225 // Of and Fail are the named alternates.
    public static implicit operator GatewayResult<T>(T value) => Of(value);

    /// <summary>An error.</summary>
    public static implicit operator GatewayResult<T>(GatewayError error) => Fail(error);
#pragma warning restore CA2225

    /// <summary>True (with the error) when this is an error; false (with the value) otherwise.</summary>
    public bool Failed([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GatewayError? error, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(true)] out T value)
    {
        if (_error is null && !_hasValue)
        {
            throw new InvalidOperationException("a default GatewayResult holds neither a value nor an error");
        }

        error = _error;
        value = _value!;
        return error is not null;
    }

    /// <inheritdoc />
    public bool Equals(GatewayResult<T> other) =>
        _hasValue == other._hasValue && EqualityComparer<T?>.Default.Equals(_value, other._value) && Equals(_error, other._error);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GatewayResult<T> other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_value, _error);

    /// <summary>Equality of value and error.</summary>
    public static bool operator ==(GatewayResult<T> left, GatewayResult<T> right) => left.Equals(right);

    /// <summary>Inequality of value or error.</summary>
    public static bool operator !=(GatewayResult<T> left, GatewayResult<T> right) => !left.Equals(right);
}
