using CcxProxy.Access;
using CcxProxy.Caching;
using CcxProxy.Channels.Health;
using CcxProxy.Channels;
using CcxProxy.Endpoints;
using CcxProxy.Errors;
using CcxProxy.Forwarding;
using CcxProxy.Keys;
using CcxProxy.Lifecycle;
using CcxProxy.Limits;
using CcxProxy.Pipeline;
using CcxProxy.Redis;
using CcxProxy.Responses;
using CcxProxy.Routing;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Usage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CcxProxy.Hosting;

/// <summary>Builds the gateway: the same code path for <c>dotnet run</c>, the container and the tests.</summary>
public static partial class GatewayApp
{
    private const string InlineSocketCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Where the gateway listens when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrls = "http://*:3000";

    /// <summary>Builds the application.</summary>
    /// <param name="args">Command-line arguments (configuration overrides such as <c>--urls</c>).</param>
    /// <param name="configure">Lets tests add configuration or replace services before the app is built.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
        configure?.Invoke(builder);
        var urls = builder.Configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } configured ? configured : DefaultUrls;
        if (OtlpExport.PrometheusPort(builder.Configuration) is not null)
        {
            // The management listener beside the public one(s); it serves the scrape and nothing else (UseCcxProxy).
            urls += ";" + builder.Configuration[OtlpExport.PrometheusUrlSetting];
        }

        builder.WebHost.UseUrls(urls);

        var gateway = builder.Configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        if (gateway.InlineIoScheduling && Environment.GetEnvironmentVariable(InlineSocketCompletions) is null)
        {
            // The runtime's half of inline scheduling (HttpClient's sockets to the upstreams). Read once, when the
            // process opens its first socket: set before the host does. A value the operator set is left alone.
            Environment.SetEnvironmentVariable(InlineSocketCompletions, "1");
        }

        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = gateway.InlineIoScheduling);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = gateway.MaxRequestBodyBytes;
        });
        // ASP.NET Core's own "Request starting" line carries the URL with its query, and a Gemini caller may send its
        // key as ?key=: that line stays off whatever the logging configuration says, for every provider (a rule
        // naming a provider outranks one that does not, so each configured provider gets its own). The gateway's
        // request line (without the query) says the same.
        builder.Services.PostConfigure<LoggerFilterOptions>(filters =>
        {
            const string Category = "Microsoft.AspNetCore.Hosting.Diagnostics";
            foreach (var provider in filters.Rules.Select(rule => rule.ProviderName).Distinct().ToList())
            {
                filters.Rules.Add(new LoggerFilterRule(provider, Category, LogLevel.Warning, filter: null));
            }

            if (!filters.Rules.Any(rule => rule.ProviderName is null && rule.CategoryName == Category))
            {
                filters.Rules.Add(new LoggerFilterRule(null, Category, LogLevel.Warning, filter: null));
            }
        });
        builder.Services.AddCcxProxy(builder.Configuration, builder.Environment.ContentRootPath);

        var app = builder.Build();
        app.UseCcxProxy();
        return app;
    }

    /// <summary>Registers the gateway's services (each with TryAdd, so tests can replace any of them first).</summary>
    public static IServiceCollection AddCcxProxy(this IServiceCollection services, IConfiguration configuration, string contentRoot)
    {
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection(GatewayOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidation>();
        services.AddOptions<ShutdownOptions>().Bind(configuration.GetSection(ShutdownOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ShutdownOptions>, ShutdownOptionsValidation>();
        services.TryAddSingleton<DrainState>();

        // Its StoppingAsync runs before the web server stops: readiness off, keep serving, then drain.
        services.AddHostedService<GracefulShutdown>();
        services.AddOptions<HostOptions>().Configure<IOptions<ShutdownOptions>>((host, shutdown) =>
            host.ShutdownTimeout = shutdown.Value.Delay + shutdown.Value.Drain + TimeSpan.FromSeconds(5));
        services.AddOptions<ChannelsSettings>().Bind(configuration.GetSection(ChannelsSettings.Section)).ValidateOnStart();
        services.AddOptions<RedisSettings>().Bind(configuration.GetSection(RedisSettings.Section));
        services.AddOptions<AccessSettings>().Bind(configuration.GetSection(AccessSettings.Section)).ValidateOnStart();
        services.AddOptions<AdminSettings>().Bind(configuration.GetSection(AdminSettings.Section));
        services.AddSingleton<IValidateOptions<ChannelsSettings>, HostSettingsValidation>();
        services.AddSingleton<IValidateOptions<AccessSettings>, HostSettingsValidation>();
        var channels = configuration.GetSection(ChannelsSettings.Section).Get<ChannelsSettings>() ?? new ChannelsSettings();
        services.AddCcxChannels(
            options =>
            {
                options.Directory = Path.GetFullPath(channels.Directory, contentRoot);
                if (channels.PollIntervalSeconds > 0)
                {
                    // Out of range stops the start (HostSettingsValidation) before the watcher would use it.
                    options.PollInterval = TimeSpan.FromSeconds(channels.PollIntervalSeconds);
                }
            },
            name => configuration[name]);
        services.AddReverseProxy();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IAccessKeyStore, EnvironmentAccessKeyStore>();
        services.TryAddSingleton(sp =>
        {
            var redis = sp.GetRequiredService<IOptions<RedisSettings>>().Value;
            return new RedisConnection(redis.Configuration, sp.GetRequiredService<ILogger<RedisConnection>>(), redis.CaCertificate);
        });
        services.TryAddSingleton<IKeyStore>(sp => sp.GetRequiredService<RedisConnection>() is { IsConfigured: true } redis
            ? new RedisKeyStore(redis)
            : new InMemoryKeyStore());
        services.TryAddSingleton(sp => new KeyDirectory(sp.GetRequiredService<IKeyStore>(), configuration,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<KeyDirectory>>()));
        services.TryAddSingleton(sp => new FailedAuthThrottle(sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<AccessSettings>>().Value.MaxFailedAuthPerMinute));
        services.TryAddSingleton(sp => new CallerAuthentication(sp.GetRequiredService<KeyDirectory>(), sp.GetRequiredService<FailedAuthThrottle>()));
        services.TryAddSingleton(sp => new AdminAuthentication(sp.GetRequiredService<IOptions<AdminSettings>>().Value.AccessKey, sp.GetRequiredService<FailedAuthThrottle>()));
        services.AddCcxLimits();
        services.TryAddSingleton<IUsageStore>(sp => sp.GetRequiredService<RedisConnection>() is { IsConfigured: true } redis
            ? new RedisUsageStore(redis)
            : new InMemoryUsageStore());
        services.TryAddSingleton<RequestLimiter>();
        services.AddOptions<RoutingOptions>().Bind(configuration.GetSection(RoutingOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidation>();
        services.TryAddSingleton(sp => new UpstreamHealth(
            sp.GetRequiredService<IOptions<RoutingOptions>>().Value.Breaker.ToOptions(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<ICooldownStore>(sp => sp.GetRequiredService<RedisConnection>() is { IsConfigured: true } redis
            ? new RedisCooldownStore(redis)
            : new InMemoryCooldownStore(sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<CooldownSync>();
        services.AddCcxCaching();
        services.TryAddSingleton<GatewayTelemetry>();
        services.TryAddSingleton<RequestTelemetry>();
        OtlpExport.Register(services, configuration);
        services.AddResponsesState();
        services.AddForwardingPipeline();
        services.TryAddSingleton<ForwardingEndpoint>();
        return services;
    }

    /// <summary>The request pipeline and endpoints.</summary>
    public static WebApplication UseCcxProxy(this WebApplication app)
    {
        if (OtlpExport.PrometheusPort(app.Configuration) is { } managementPort)
        {
            // Decided by the port the connection came in on, never by the Host header a caller writes: the scrape
            // only there, and on that port nothing else of the gateway.
            app.UseOpenTelemetryPrometheusScrapingEndpoint(context =>
                context.Connection.LocalPort == managementPort && context.Request.Path == OtlpExport.PrometheusPath);
            app.Use((context, next) =>
            {
                if (context.Connection.LocalPort != managementPort)
                {
                    return next(context);
                }

                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            });
        }

        if (TrustedProxies.Options(app.Configuration) is { } forwarded)
        {
            app.UseForwardedHeaders(forwarded);
        }

        var drain = app.Services.GetRequiredService<DrainState>();
        app.Use((context, next) =>
        {
            RequestIds.Assign(context);
            if (drain.IsDraining && HttpProtocol.IsHttp11(context.Request.Protocol))
            {
                // Shutting down: no connection carries a second request, so none is in use, or being reused by
                // a client or an ingress, when the listener closes (a POST on a closing connection cannot be retried).
                context.Response.Headers.Connection = "close";
            }

            return next(context);
        });
        app.UseMiddleware<ClientErrorMiddleware>();

        app.MapHealth();
        app.MapStatus();
        app.MapAdmin();
        app.MapModels();
        app.MapResponses();
        app.MapGemini();
        var forwarding = app.Services.GetRequiredService<ForwardingEndpoint>();
        app.MapPost("/v1/messages", forwarding.HandleMessagesAsync);
        app.MapPost("/v1/messages/count_tokens", forwarding.HandleCountTokensAsync);
        app.MapPost("/v1/chat/completions", forwarding.HandleChatCompletionsAsync);
        app.MapPost("/v1/completions", forwarding.HandleCompletionsAsync);
        app.MapPost("/v1/responses", forwarding.HandleResponsesAsync);
        app.MapPost("/v1/responses/input_tokens", forwarding.HandleResponsesInputTokensAsync);

        // No YARP routes: channels are selected per request from the body. This loads the channel
        // clusters (YARP's config manager) so the forwarder can use their pooled HTTP clients.
        app.MapReverseProxy();
        app.MapFallback(NotFoundAsync);

        // Start connecting to Redis (when configured) now, in the background, not on the first request.
        app.Services.GetRequiredService<RedisConnection>();
        // Exporting (when configured) starts with the host: AddOpenTelemetry() builds its providers at start-up.
        WarnAboutAccessKeys(app);
        return app;
    }

    private static Task NotFoundAsync(HttpContext context)
    {
        var path = context.Request.Path;
        var message = path.StartsWithSegments("/v1/v1")
            ? $"no such endpoint: {path}. The base URL must be the gateway's root: drop the trailing /v1 from it (for example ANTHROPIC_BASE_URL=http://host:3000)"
            : $"no such endpoint: {context.Request.Method} {path}";
        return GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status404NotFound, message));
    }

    private static void WarnAboutAccessKeys(WebApplication app)
    {
        if (app.Services.GetRequiredService<IAccessKeyStore>() is EnvironmentAccessKeyStore { Count: 0 })
        {
            Log.NoAccessKeys(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CcxProxy"));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "PROXY_ACCESS_KEY is not set: every request to /v1 will be refused with 401")]
        public static partial void NoAccessKeys(ILogger logger);
    }
}
