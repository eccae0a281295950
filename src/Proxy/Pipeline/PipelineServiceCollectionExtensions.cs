using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CcxProxy.Pipeline;

/// <summary>Registers the forwarded request's stages, and the one place their order is written.</summary>
internal static class PipelineServiceCollectionExtensions
{
    public static IServiceCollection AddForwardingPipeline(this IServiceCollection services)
    {
        services.TryAddSingleton<AuthenticateStage>();
        services.TryAddSingleton<ReadBodyStage>();
        services.TryAddSingleton<ResponsesHistoryStage>();
        services.TryAddSingleton<PlanRouteStage>();
        services.TryAddSingleton<EstimateTokensStage>();
        services.TryAddSingleton<AdmitStage>();
        services.TryAddSingleton<AccountStage>();
        services.TryAddSingleton<CompleteResponseStage>();
        services.TryAddSingleton<CacheStage>();
        services.TryAddSingleton<FailoverStage>();
        services.TryAddSingleton<AttemptStage>();
        services.TryAddSingleton<UpstreamCalls>();
        services.TryAddSingleton(provider => new RequestPipeline(
            // Each does its part and says whether the request goes on, in turn.
            [
                provider.GetRequiredService<AuthenticateStage>(),
                provider.GetRequiredService<ReadBodyStage>(),
                // OpenAI Responses only: puts a previous_response_id's conversation before the new input, marks a turn to keep.
                provider.GetRequiredService<ResponsesHistoryStage>(),
                provider.GetRequiredService<PlanRouteStage>(),
            ],
            // Each runs the rest of the request inside it.
            [
                provider.GetRequiredService<EstimateTokensStage>(),
                // Wraps what follows: accounts the answer once it has ended and the limits' lease is released.
                provider.GetRequiredService<AccountStage>(),
                // Wraps what follows: releases the lease with the tokens really spent, once the response has ended.
                provider.GetRequiredService<AdmitStage>(),
                // Wraps what follows: ends the response (an error included) before the two stages above do their part.
                provider.GetRequiredService<CompleteResponseStage>(),
                provider.GetRequiredService<CacheStage>(),
                provider.GetRequiredService<FailoverStage>(),
            ]));
        return services;
    }
}
