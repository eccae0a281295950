using CcxProxy.Channels;
using CcxProxy.Errors;
using CcxProxy.Forwarding;
using CcxProxy.Hosting;
using CcxProxy.Lifecycle;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using Microsoft.Extensions.Options;

namespace CcxProxy.Pipeline;

/// <summary>Builds the upstream call of a request for one channel and key: the one place the host's settings meet <see cref="Routes"/>.</summary>
internal sealed class UpstreamCalls(IOptions<GatewayOptions> options, DrainState drain, TimeProvider time)
{
    private readonly GatewayOptions _options = options.Value;

    /// <summary>The call, or the 400 that says why the request cannot be converted for <paramref name="channel"/>.</summary>
    /// <param name="request">The request.</param>
    /// <param name="channel">The channel.</param>
    /// <param name="key">The channel's key to send.</param>
    /// <param name="mayFailOver">True when another candidate can take over if this attempt fails before answering.</param>
    /// <param name="capture">Records the answer for the response cache; null when it is not to be kept.</param>
    public GatewayResult<UpstreamCall> Build(ForwardedRequest request, ChannelConfig channel, UpstreamKey key, bool mayFailOver = false, ResponseCapture? capture = null) =>
        Routes.Build(request.Api, channel, request.Body, request.Text, request.Scan,
            new CallSettings(RequestIds.Get(request.Http), _options.MaxResponseBodyBytes, _options.StreamKeepAlive, drain.DrainDeadline)
            {
                Key = key,
                Time = time,
                InputTokens = () => request.InputTokenEstimate,
                MayFailOver = mayFailOver,
                Capture = capture,
                OnAnswer = request.Responses is { } turn ? answer => turn.Answer = answer : null,
                BeforeLastWrite = request.Responses is { } kept ? kept.KeepAsync : null,
            });
}
