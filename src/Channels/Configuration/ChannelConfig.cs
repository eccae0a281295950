using System.Text;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels;

/// <summary>
/// One channel: an upstream provider the gateway may forward to, loaded from one JSON file.
/// Immutable; <see cref="ToString"/> prints key fingerprints and masks header values, never a secret.
/// </summary>
public sealed record ChannelConfig
{
    private static readonly IReadOnlyDictionary<string, string> EmptyMap = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
    private static readonly IReadOnlyList<string> DefaultGroups = ["default"];

    private readonly IReadOnlyList<string>? _models;
    private readonly IReadOnlyDictionary<string, string> _modelMapping = EmptyMap;
    private readonly CompiledModelMapping _compiledMapping = CompiledModelMapping.Empty;

    /// <summary>Unique channel name (<c>"name"</c>, default the file name without <c>.json</c>); also the YARP cluster id.</summary>
    public required string Name { get; init; }

    /// <summary>The protocol the upstream speaks (<c>"type"</c>).</summary>
    public required WireProtocol Type { get; init; }

    /// <summary>Absolute http(s) base URLs, without trailing slash (<c>"baseUrl"</c> or <c>"baseUrls"</c>).</summary>
    public required IReadOnlyList<Uri> BaseUrls { get; init; }

    /// <summary>Upstream keys, at least one (<c>"apiKeys"</c>; <c>"env:NAME"</c> entries already resolved).</summary>
    public required IReadOnlyList<UpstreamKey> ApiKeys { get; init; }

    /// <summary>How the key is sent upstream (<c>"auth"</c>).</summary>
    public UpstreamAuth Auth { get; init; }

    /// <summary>Allowlist patterns with '*' wildcards, case-insensitive (<c>"models"</c>); null serves every model.</summary>
    public IReadOnlyList<string>? Models
    {
        get => _models;
        init => _models = value;
    }

    /// <summary>Request model key to upstream model name (<c>"modelMapping"</c>); see <see cref="ModelMapper"/>.</summary>
    public IReadOnlyDictionary<string, string> ModelMapping
    {
        get => _modelMapping;
        init
        {
            _modelMapping = value ?? EmptyMap;
            _compiledMapping = CompiledModelMapping.Create(_modelMapping);
        }
    }

    /// <summary>Lower is tried first (<c>"priority"</c>, default 0).</summary>
    public int Priority { get; init; }

    /// <summary>Relative share among channels of equal priority (<c>"weight"</c>, at least 1).</summary>
    public int Weight { get; init; } = 1;

    /// <summary>Groups allowed to use this channel (<c>"groups"</c>, default <c>["default"]</c>).</summary>
    public IReadOnlyList<string> Groups { get; init; } = DefaultGroups;

    /// <summary>Extra headers added to upstream requests (<c>"headers"</c>; <c>"env:NAME"</c> values already resolved).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = EmptyMap;

    /// <summary>False takes the channel out of selection without deleting it (<c>"enabled"</c>).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Upstream timeouts (<c>"timeouts"</c>).</summary>
    public ChannelTimeouts Timeouts { get; init; } = new();

    /// <summary>Optional clamp for <c>max_tokens</c> sent upstream (<c>"maxTokens"</c>, at least 1).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>
    /// For <c>openai</c> channels: the request field that carries the output limit (<c>"maxTokensField"</c>):
    /// <c>max_tokens</c> (default; most compatible servers) or <c>max_completion_tokens</c> (OpenAI reasoning models).
    /// </summary>
    public string MaxTokensField { get; init; } = "max_tokens";

    /// <summary>For <c>openai</c> channels: ask for the usage chunk when streaming (<c>"streamUsage"</c>, default true).</summary>
    public bool StreamUsage { get; init; } = true;

    /// <summary>
    /// For <c>openai</c> channels: send the assistant's earlier thinking back as <c>reasoning_content</c>
    /// (<c>"passBackReasoning"</c>, default false; DeepSeek requires it on tool-call turns).
    /// </summary>
    public bool PassBackReasoning { get; init; }

    /// <summary>
    /// Drop Claude Code's per-request attribution block from the system prompt so upstream prompt caches
    /// can hit (<c>"stripClaudeCodeAttribution"</c>; default true unless the channel is api.anthropic.com).
    /// </summary>
    public bool StripClaudeCodeAttribution { get; init; }

    /// <summary>
    /// Send W3C trace context (<c>traceparent</c>, <c>tracestate</c>) upstream so the provider's spans join the
    /// gateway's traces (<c>"propagateTraceContext"</c>, default false: a third-party provider has no use for
    /// them, and the caller's own trace headers are never passed on either).
    /// </summary>
    public bool PropagateTraceContext { get; init; }

    /// <summary>
    /// Extra certificate authorities trusted for this channel's TLS connections, besides the system's
    /// (<c>"caCertificates"</c>: PEM files, e.g. a company CA mounted from a Kubernetes Secret): the full paths.
    /// Validation is never turned off; the certificate must still name the upstream's host.
    /// </summary>
    public IReadOnlyList<string> CaCertificateFiles { get; init; } = [];

    /// <summary>The certificates of <see cref="CaCertificateFiles"/> as read at load time, in PEM; null when there are none.</summary>
    public string? CaCertificatesPem { get; init; }

    /// <summary>The file name (not the full path) this channel came from.</summary>
    public required string SourceFile { get; init; }

    /// <summary>True when <see cref="Models"/> is null or any pattern matches <paramref name="requestModel"/>.</summary>
    /// <param name="requestModel">The model name the client asked for.</param>
    public bool ServesModel(string requestModel)
    {
        ArgumentNullException.ThrowIfNull(requestModel);
        return _models is null || ModelPattern.AnyMatch(_models, requestModel);
    }

    /// <summary>Maps a request model name to this channel's upstream name (keys sorted once per channel).</summary>
    /// <param name="requestModel">The model name the client asked for.</param>
    /// <returns>The upstream model name; the request name unchanged when no key matches.</returns>
    public string MapModel(string requestModel)
    {
        ArgumentNullException.ThrowIfNull(requestModel);
        return _compiledMapping.Map(requestModel);
    }

    /// <summary>
    /// Why <paramref name="requestModel"/> is ambiguous on this channel: it contains two mapping keys with different
    /// targets, neither part of the other, so a name a group may use (<c>claude-haiku-*</c>) could carry another
    /// model's key (<c>claude-haiku-claude-opus-4-7</c>). Null when the mapping is unambiguous.
    /// </summary>
    /// <param name="requestModel">The model name the client asked for.</param>
    /// <returns>A message for the caller, or null.</returns>
    public string? AmbiguousMapping(string requestModel)
    {
        ArgumentNullException.ThrowIfNull(requestModel);
        return _compiledMapping.FindConflict(requestModel) is { } conflict
            ? $"model '{requestModel}' is ambiguous on channel '{Name}': it contains the model mapping keys '{conflict.First}' and '{conflict.Second}', which name different models; ask for a name that contains only one of them"
            : null;
    }

    /// <summary>
    /// Why mapping <paramref name="requestModel"/> on this channel would reach a model a group's allowlist does not
    /// name; null when it would not. A name mapped by a contained key (not an exact one) is allowed only when the
    /// allowlist pattern that admits the name names that key itself (the key overlaps the pattern's literal text:
    /// <c>claude-sonnet-*</c> names <c>sonnet-4</c> in <c>claude-sonnet-4-6</c>) or admits the mapped name too.
    /// So <c>claude-haiku-*</c> cannot reach an <c>opus</c> target through <c>claude-haiku-x-opus</c>.
    /// </summary>
    /// <param name="requestModel">The model name the client asked for (already admitted by <paramref name="allowlist"/>).</param>
    /// <param name="allowlist">The group's model patterns.</param>
    /// <returns>A message for the caller, or null.</returns>
    public string? MappingOutsideAllowlist(string requestModel, IReadOnlyList<string> allowlist)
    {
        ArgumentNullException.ThrowIfNull(requestModel);
        ArgumentNullException.ThrowIfNull(allowlist);
        if (_compiledMapping.ContainedKey(requestModel) is not { } key)
        {
            return null;
        }

        var mapped = _compiledMapping.Map(requestModel);
        if (ModelPattern.AnyMatch(allowlist, mapped))
        {
            return null;
        }

        foreach (var pattern in allowlist)
        {
            if (ModelPattern.KeyOverlapsLiteral(pattern, requestModel, key))
            {
                return null;
            }
        }

        return $"model '{requestModel}' would reach '{mapped}' through the model mapping key '{key}' of channel '{Name}', which this key's group's model allowlist does not name";
    }

    // Records print every member by default; this prints key fingerprints and masks header values.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Name = ").Append(Name)
            .Append(", Type = ").Append(Type)
            .Append(", BaseUrls = [").AppendJoin(", ", BaseUrls ?? []).Append(']')
            .Append(", ApiKeys = [").AppendJoin(", ", ApiKeys ?? []).Append(']')
            .Append(", Auth = ").Append(Auth)
            .Append(", Models = ").Append(Models is null ? "*" : "[" + string.Join(", ", Models) + "]")
            .Append(", ModelMapping = {").AppendJoin(", ", ModelMapping.Select(static p => $"{p.Key}: {p.Value}")).Append('}')
            .Append(", Priority = ").Append(Priority)
            .Append(", Weight = ").Append(Weight)
            .Append(", Groups = [").AppendJoin(", ", Groups).Append(']')
            .Append(", Headers = {").AppendJoin(", ", Headers.Keys.Select(static k => k + ": ***")).Append('}')
            .Append(", Enabled = ").Append(Enabled)
            .Append(", Timeouts = ").Append(Timeouts)
            .Append(", MaxTokens = ").Append(MaxTokens)
            .Append(", MaxTokensField = ").Append(MaxTokensField)
            .Append(", StreamUsage = ").Append(StreamUsage)
            .Append(", PassBackReasoning = ").Append(PassBackReasoning)
            .Append(", StripClaudeCodeAttribution = ").Append(StripClaudeCodeAttribution)
            .Append(", PropagateTraceContext = ").Append(PropagateTraceContext)
            .Append(", CaCertificateFiles = [").AppendJoin(", ", CaCertificateFiles).Append(']')
            .Append(", SourceFile = ").Append(SourceFile);
        return true;
    }
}
