using CcxProxy.Transforms.Forwarding;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>What to send upstream for one request on one channel, and how to turn the answer back.</summary>
/// <param name="UpstreamPath">The path appended to the channel's base URL.</param>
/// <param name="Body">The upstream request body.</param>
/// <param name="KeepQuery">True to pass the client's query string on (same protocol only: a converted request's query means nothing upstream).</param>
/// <param name="Plan">How the upstream's answer, stream and errors reach the client.</param>
public sealed record ConversionRoute(string UpstreamPath, ReadOnlyMemory<byte> Body, bool KeepQuery, ResponsePlan Plan);
