using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CcxProxy.Responses;

/// <summary>Registers the OpenAI Responses conversation state: its settings (checked at start) and its store.</summary>
internal static class ResponsesServiceCollectionExtensions
{
    public static IServiceCollection AddResponsesState(this IServiceCollection services)
    {
        // Bound from the host's configuration when there is one (a bare service collection gets the defaults).
        services.AddOptions<ResponsesSettings>()
            .Configure<IServiceProvider>((settings, provider) => provider.GetService<IConfiguration>()?.GetSection(ResponsesSettings.Section).Bind(settings))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ResponsesSettings>, ResponsesSettingsValidation>());
        services.TryAddSingleton<ResponseStore>();
        return services;
    }
}
