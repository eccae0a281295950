using CcxProxy.Access;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>Stage 1: the caller's key to its group (401 for a bad key, 429 for an address that keeps failing).</summary>
internal sealed class AuthenticateStage(CallerAuthentication authentication) : IRequestStep
{
    public async ValueTask<GatewayError?> RunAsync(ForwardedRequest request)
    {
        if ((await authentication.AuthenticateAsync(request.Http).ConfigureAwait(false)).Failed(out var refused, out var caller))
        {
            return refused;
        }

        request.Caller = caller;
        request.Record.Group = caller.Group;
        request.Record.KeyId = caller.KeyId;
        return null;
    }
}
