using CcxProxy.Channels;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Forwarding;

/// <summary>
/// The upstream call of a request on one channel: the channel's choices handed to <see cref="ConversionTable"/>,
/// which says what to send and how the answer comes back, and the host's settings added.
/// </summary>
internal static class Routes
{
    /// <summary>The upstream call for <paramref name="api"/> on <paramref name="channel"/>, or the 400 that says why the request cannot be converted.</summary>
    /// <param name="api">The inbound API.</param>
    /// <param name="channel">The attempt's channel.</param>
    /// <param name="body">The body as the client sent it: what passthrough forwards.</param>
    /// <param name="text">The same body with lone surrogates replaced (<see cref="LoneSurrogates"/>): what conversion reads.</param>
    /// <param name="scan">The scan of <paramref name="body"/>.</param>
    /// <param name="settings">What every attempt of the request shares.</param>
    public static GatewayResult<UpstreamCall> Build(InboundApi api, ChannelConfig channel, ReadOnlyMemory<byte> body, ReadOnlyMemory<byte> text,
        in RequestScan scan, CallSettings settings)
    {
        IReadOnlyList<byte[]>? secrets = null;
        var context = new ConversionContext
        {
            ClientModel = scan.Model,
            Options = new ConversionOptions
            {
                UpstreamModel = channel.MapModel(scan.Model),
                MaxTokensLimit = channel.MaxTokens,
                MaxTokensField = channel.MaxTokensField,
                IncludeStreamUsage = channel.StreamUsage,
                PassBackReasoning = channel.PassBackReasoning,
                StripClaudeCodeAttribution = channel.StripClaudeCodeAttribution,
            },
            Time = settings.Time,
            ChannelName = channel.Name,
            RequestId = settings.RequestId,
            Stream = scan.Stream,
            JsonArrayStream = scan.JsonArrayStream,
            IncludeUsage = scan.IncludeUsage,
            InputTokens = settings.InputTokens,

            // What is kept is what the client got: scrubbed of the attempt's secrets, as the relay scrubs the answer.
            OnAnswer = settings.OnAnswer is { } keep ? answer => keep(SecretScrubber.Scrub(answer, secrets!).ToArray()) : null,
        };
        if (ConversionTable.Route(api, channel.Type, new ConversionRequest(body, text, scan), context).Failed(out var error, out var route))
        {
            return error;
        }

        var call = settings.Call(channel, route, context.ClientModel, api.Protocol());
        secrets = SecretScrubber.SecretsOf(call);
        return call;
    }
}

/// <summary>What every upstream call of one request shares.</summary>
internal sealed record CallSettings(string? RequestId, int MaxResponseBytes, TimeSpan PingInterval, CancellationToken DrainDeadline = default)
{
    /// <summary>The host's clock.</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>The request's input-token estimate, worked out once per request however many attempts read it.</summary>
    public required Func<long> InputTokens { get; init; }

    /// <summary>True when another candidate can take over if this attempt fails before answering.</summary>
    public bool MayFailOver { get; init; }

    /// <summary>The channel's key for this attempt (chosen by the route plan).</summary>
    public required UpstreamKey Key { get; init; }

    /// <summary>Records this attempt's answer for the response cache; null when it is not to be kept.</summary>
    public ResponseCapture? Capture { get; init; }

    /// <summary>Receives the whole answer in the client's protocol once complete, when the gateway keeps it (OpenAI Responses); null otherwise.</summary>
    public Action<byte[]>? OnAnswer { get; init; }

    /// <summary>See <see cref="UpstreamCall.BeforeLastWrite"/>.</summary>
    public Func<Task>? BeforeLastWrite { get; init; }

    /// <summary>The call that sends <paramref name="route"/> to <paramref name="channel"/>.</summary>
    /// <param name="channel">The attempt's channel.</param>
    /// <param name="route">What to send and how the answer comes back.</param>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="client">The protocol the client reads.</param>
    public UpstreamCall Call(ChannelConfig channel, ConversionRoute route, string clientModel, WireProtocol client) => new()
    {
        Body = route.Body,
        UpstreamPath = route.UpstreamPath,
        ClientModel = clientModel,
        UpstreamKey = Key.Value,
        Auth = channel.Auth,
        Headers = channel.Headers,
        IdleTimeout = channel.Timeouts.Idle,
        FirstContentTimeout = channel.Timeouts.FirstContent,
        PingInterval = PingInterval,
        MaxResponseBytes = MaxResponseBytes,
        RequestId = RequestId,
        ChannelName = channel.Name,
        WireProtocol = client,
        UpstreamProtocol = channel.Type,
        KeepQuery = route.KeepQuery,
        MayFailOver = MayFailOver,
        DrainDeadline = DrainDeadline,
        Capture = Capture,
        BeforeLastWrite = BeforeLastWrite,
        Plan = route.Plan,
        Time = Time,
    };
}
