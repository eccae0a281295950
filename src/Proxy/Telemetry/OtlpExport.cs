using CcxProxy.Limits;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CcxProxy.Telemetry;

/// <summary>
/// Exports traces, metrics and logs over OTLP when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set
/// (from the environment, or any configuration source); off otherwise, and then nothing listens to the
/// gateway's activity source or meters, so recording costs nothing. Also read: <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>
/// (<c>grpc</c>, the default, or <c>http/protobuf</c>), <c>OTEL_EXPORTER_OTLP_HEADERS</c>, <c>OTEL_SERVICE_NAME</c>
/// (default <c>ccx-proxy</c>), <c>OTEL_RESOURCE_ATTRIBUTES</c>, <c>OTEL_METRIC_EXPORT_INTERVAL</c> (ms) and
/// <c>OTEL_SDK_DISABLED</c>. Built with the host's <c>AddOpenTelemetry()</c>: the providers start with the host
/// and flush when it stops. Server and client spans and their metrics come from the ASP.NET Core and
/// HttpClient instrumentation (the query string redacted), the runtime's from the runtime instrumentation, and
/// Redis commands from the StackExchange.Redis instrumentation once the connection is up.
/// </summary>
internal static class OtlpExport
{
    /// <summary>Activity sources of the gateway's own exported beside the instrumentation's: its attempts, and YARP's.</summary>
    public static readonly string[] Sources = [GatewayTelemetry.Name, "Yarp.ReverseProxy"];

    /// <summary>Meters of the gateway's own exported beside the instrumentation's, and Kestrel's.</summary>
    public static readonly string[] Meters = [GatewayTelemetry.Name, LimitsMetrics.MeterName, "Microsoft.AspNetCore.Server.Kestrel"];

    /// <summary>True when OTLP export is configured.</summary>
    public static bool IsEnabled(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        && !string.Equals(configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The setting that turns the Prometheus scrape endpoint on: the management listener's URL (<c>http://*:9464</c>).</summary>
    public const string PrometheusUrlSetting = "Telemetry:PrometheusUrl";

    /// <summary>The scrape path on the management listener.</summary>
    public const string PrometheusPath = "/metrics";

    /// <summary>The management port the scrape is served on, or null when <see cref="PrometheusUrlSetting"/> is unset.</summary>
    /// <exception cref="InvalidOperationException">The setting is not an http URL with a port (a start-up error).</exception>
    public static int? PrometheusPort(IConfiguration configuration)
    {
        if (configuration[PrometheusUrlSetting] is not { Length: > 0 } url)
        {
            return null;
        }

        try
        {
            var address = BindingAddress.Parse(url);
            // An explicit port: "http://host" would quietly mean 80, on which nobody expects a scrape.
            var explicitPort = url.TrimEnd('/').AsSpan(url.TrimEnd('/').LastIndexOf(':') + 1) is { Length: > 0 } digits && int.TryParse(digits, out _);
            return address.Scheme == "http" && explicitPort && address.Port > 0 && address.PathBase.Length == 0
                ? address.Port
                : throw new InvalidOperationException($"{PrometheusUrlSetting}: '{url}' must be an http URL with a port and no path, e.g. http://*:9464");
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{PrometheusUrlSetting}: '{url}' is not a URL ({ex.Message})", ex);
        }
    }

    /// <summary>Registers OTLP export of traces, metrics and logs (through the host's logging), and the Prometheus exporter, as configured.</summary>
    public static void Register(IServiceCollection services, IConfiguration configuration)
    {
        if (PrometheusPort(configuration) is not null)
        {
            // Prometheus pulls metrics only: the gateway's own meters and the instrumentation's.
            services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(Meters)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
        }

        if (!IsEnabled(configuration))
        {
            return;
        }

        // OpenTelemetry's HttpClient instrumentation writes its propagator's headers into every outbound request,
        // after YARP's transforms and past each channel's trace-context policy: with the SDK's default (W3C trace
        // context and baggage) a caller's baggage would reach providers. A bare TraceContextPropagator turns that
        // off, and its ASP.NET Core instrumentation's own reading of the caller's headers with it: the runtime already
        // continues the caller's trace, and each channel's handler alone decides what goes upstream.
        Sdk.SetDefaultTextMapPropagator(new TraceContextPropagator());

        var interval = int.TryParse(configuration["OTEL_METRIC_EXPORT_INTERVAL"], System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0 ? ms : 60_000;
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "ccx-proxy"))
            .WithTracing(tracing => tracing
                .AddSource(Sources)
                // No query string on a span: a Gemini caller may send its key as ?key= (the instrumentation redacts
                // values by default; an environment variable turns that off, and the gateway needs none of it).
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.EnrichWithHttpRequest = (activity, _) => activity.SetTag("url.query", null))
                .AddHttpClientInstrumentation()
                // Redis commands as client spans (command names only: SetVerboseDatabaseStatements stays off).
                .AddRedisInstrumentation()
                .ConfigureRedisInstrumentation(TraceRedis)
                .AddOtlpExporter(exporter => Configure(exporter, configuration, "traces")))
            .WithMetrics(metrics => metrics
                .AddMeter(Meters)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddOtlpExporter((exporter, reader) =>
                {
                    Configure(exporter, configuration, "metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
                }))
            .WithLogging(
                logging => logging.AddOtlpExporter(exporter => Configure(exporter, configuration, "logs")),
                options =>
                {
                    options.IncludeFormattedMessage = true;
                    options.ParseStateValues = true;
                });
    }

    /// <summary>Hands the gateway's Redis connection to the instrumentation once it exists (it connects in the background).</summary>
    private static void TraceRedis(IServiceProvider services, OpenTelemetry.Instrumentation.StackExchangeRedis.StackExchangeRedisInstrumentation redis) =>
        services.GetRequiredService<Redis.RedisConnection>().MultiplexerAsync.ContinueWith(
            connecting =>
            {
                if (connecting.Result is { } multiplexer)
                {
                    redis.AddConnection(multiplexer);
                }
            },
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);

    /// <summary>Endpoint, protocol and headers; with http/protobuf each signal goes to its own path under the endpoint, as the spec says.</summary>
    private static void Configure(OtlpExporterOptions exporter, IConfiguration configuration, string signal)
    {
        var endpoint = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]!.TrimEnd('/');
        var http = string.Equals(configuration["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf", StringComparison.OrdinalIgnoreCase);
        exporter.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        exporter.Endpoint = new Uri(http ? $"{endpoint}/v1/{signal}" : endpoint);
        if (configuration["OTEL_EXPORTER_OTLP_HEADERS"] is { Length: > 0 } headers)
        {
            exporter.Headers = headers;
        }
    }
}
