using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// A route that does not pass through the hub: the same protocol on both sides (forwarded as sent, with the
/// model mapped), or a tuned shortcut between two protocols. <see cref="ConversionTable"/> lists them.
/// </summary>
public interface IDirectRoute
{
    /// <summary>The upstream call's path, body and answer plan, or the 400 that says why the request cannot be sent.</summary>
    /// <param name="api">The API the client called.</param>
    /// <param name="request">The client's body and its scan.</param>
    /// <param name="context">The request's conversion context.</param>
    GatewayResult<ConversionRoute> Route(InboundApi api, ConversionRequest request, ConversionContext context);
}
