using CcxProxy.Access;
using CcxProxy.Caching;
using CcxProxy.Channels.Routing;
using CcxProxy.Channels;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Pipeline;

/// <summary>
/// The one per-request context the stages of a forwarded request share (in the manner of YARP's
/// <c>IReverseProxyFeature</c>): each stage reads what the stages before it settled and settles its own part.
/// A part read before the stage that settles it ran is a bug in the pipeline's order, and throws.
/// </summary>
internal sealed class ForwardedRequest(HttpContext http, InboundApi api, RequestRecord record)
{
    private Caller? _caller;
    private RoutePlan? _route;
    private ReadOnlyMemory<byte>? _body;
    private long? _inputTokens;

    /// <summary>The HTTP exchange.</summary>
    public HttpContext Http { get; } = http;

    /// <summary>Which API the caller called.</summary>
    public InboundApi Api { get; } = api;

    /// <summary>What the request's log line, span and metrics say.</summary>
    public RequestRecord Record { get; } = record;

    /// <summary><c>count_tokens</c> (or Responses' <c>input_tokens</c>, Gemini's <c>countTokens</c>): not a model call, so not limited, cached or accounted, and answered by one attempt.</summary>
    public bool IsCountTokens => Api is InboundApi.CountTokens or InboundApi.ResponsesInputTokens or InboundApi.GeminiCountTokens;

    /// <summary>What a Gemini URL says (the model, and how a stream is framed); null for the APIs that name the model in the body.</summary>
    public GeminiTarget? Gemini { get; init; }

    /// <summary>The authenticated caller (<see cref="AuthenticateStage"/>).</summary>
    public Caller Caller
    {
        get => _caller ?? throw Unsettled(nameof(Caller));
        set => _caller = value;
    }

    /// <summary>The body as the client sent it, what passthrough forwards (<see cref="ReadBodyStage"/>).</summary>
    public ReadOnlyMemory<byte> Body
    {
        get => _body ?? throw Unsettled(nameof(Body));
        set => _body = value;
    }

    /// <summary>
    /// The body with lone surrogates replaced (strings Node clients cut mid-emoji): what converters, estimates and the
    /// affinity hash read (<see cref="ReadBodyStage"/>).
    /// </summary>
    public ReadOnlyMemory<byte> Text { get; set; }

    /// <summary>The one scan of the body (<see cref="ReadBodyStage"/>).</summary>
    public RequestScan Scan { get; set; }

    /// <summary>
    /// The gateway's estimate of the request's input tokens, worked out on first use and then kept: what the limits
    /// reserve and what a converted stream reports before the upstream's count arrives. One parse of the body per
    /// request, not one per reader.
    /// </summary>
    public long InputTokenEstimate => _inputTokens ??= TokenEstimate.Of(this);

    /// <summary>The model the caller asked for (<see cref="ReadBodyStage"/>).</summary>
    public string Model => Scan.Model ?? throw Unsettled(nameof(Model));

    /// <summary>The caller's group as configured; null when groups.json does not name it (<see cref="PlanRouteStage"/>).</summary>
    public GroupConfig? Group { get; set; }

    /// <summary>The candidates, in order, and their health (<see cref="PlanRouteStage"/>).</summary>
    public RoutePlan Route
    {
        get => _route ?? throw Unsettled(nameof(Route));
        set => _route = value;
    }

    /// <summary>The first candidate: the channel the request is meant for.</summary>
    public ChannelConfig FirstChannel => Route.Candidates[0];

    /// <summary>What the response cache may do for this request (<see cref="CacheStage"/>); null when the group does not cache.</summary>
    public CachePolicy? Cache { get; set; }

    /// <summary>The cache key of what the first candidate would be sent, once looked up (<see cref="CacheStage"/>).</summary>
    public string? CacheKey { get; set; }

    /// <summary>True when the response cache answered (<see cref="CacheStage"/>).</summary>
    public bool AnsweredFromCache { get; set; }

    /// <summary>An OpenAI Responses turn the gateway is to keep (<see cref="ResponsesHistoryStage"/>); null for other APIs and <c>store: false</c>.</summary>
    public Responses.ResponsesTurn? Responses { get; set; }

    /// <summary>The attempt that answered, with its channel and call (<see cref="FailoverStage"/>); null when none did.</summary>
    public ServedAttempt? Served { get; set; }

    /// <summary>
    /// The tokens the request spent upstream, when known: the served attempt's usage, or none at all for an answer
    /// from the cache. Null when unknown (nothing answered): a reservation is then released whole.
    /// </summary>
    public StreamUsage? Usage => AnsweredFromCache ? new StreamUsage() : Served?.Result.Usage;

    private static InvalidOperationException Unsettled(string part) =>
        new($"the request's {part} is read before the stage that settles it ran: the pipeline's stages are out of order");
}

/// <summary>The attempt that answered the caller: its channel, the call it made and what came of it.</summary>
internal sealed record ServedAttempt(ChannelConfig Channel, UpstreamCall Call, AttemptResult Result);

/// <summary>What a Gemini request's URL says: <c>/v1beta/models/{Model}:{method}</c>, and <c>alt=sse</c> or not.</summary>
/// <param name="Model">The model the path names.</param>
/// <param name="JsonArrayStream">True for <c>streamGenerateContent</c> without <c>alt=sse</c>: the stream is one JSON array.</param>
internal sealed record GeminiTarget(string Model, bool JsonArrayStream);
