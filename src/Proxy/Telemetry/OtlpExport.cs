using CcxProxy.Limits;
using OpenTelemetry;
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
/// <c>OTEL_SDK_DISABLED</c>. The providers live as long as the host and flush when it stops.
/// </summary>
internal sealed class OtlpExport : IDisposable
{
    /// <summary>Activity sources exported: the gateway's attempts, ASP.NET Core's server spans, HttpClient's and YARP's client spans.</summary>
    public static readonly string[] Sources = [GatewayTelemetry.Name, "Microsoft.AspNetCore", "System.Net.Http", "Yarp.ReverseProxy"];

    /// <summary>Meters exported: the gateway's own, and those ASP.NET Core, Kestrel, HttpClient and the runtime publish.</summary>
    public static readonly string[] Meters =
    [
        GatewayTelemetry.Name, LimitsMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel",
        "System.Net.Http", "System.Runtime",
    ];

    private readonly TracerProvider _tracing;
    private readonly MeterProvider _metrics;

    private OtlpExport(TracerProvider tracing, MeterProvider metrics)
    {
        _tracing = tracing;
        _metrics = metrics;
    }

    /// <summary>True when OTLP export is configured.</summary>
    public static bool IsEnabled(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        && !string.Equals(configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Registers OTLP export of logs (through the host's logging) and of traces and metrics, when configured.</summary>
    public static void Register(IServiceCollection services, IConfiguration configuration)
    {
        if (!IsEnabled(configuration))
        {
            return;
        }

        services.AddLogging(logging => logging.AddOpenTelemetry(options =>
        {
            options.SetResourceBuilder(Resource(configuration));
            options.IncludeFormattedMessage = true;
            options.ParseStateValues = true;
            options.AddOtlpExporter(exporter => Configure(exporter, configuration, "logs"));
        }));
        services.AddSingleton(_ => Create(configuration));
    }

    /// <summary>Builds the trace and metric providers.</summary>
    public static OtlpExport Create(IConfiguration configuration)
    {
        var tracing = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(Resource(configuration))
            .AddSource(Sources)
            .AddOtlpExporter(exporter => Configure(exporter, configuration, "traces"))
            .Build();
        var interval = int.TryParse(configuration["OTEL_METRIC_EXPORT_INTERVAL"], System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0 ? ms : 60_000;
        var metrics = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(Resource(configuration))
            .AddMeter(Meters)
            .AddOtlpExporter((exporter, reader) =>
            {
                Configure(exporter, configuration, "metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
            })
            .Build();
        return new OtlpExport(tracing, metrics);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Flushes what is buffered.
        _tracing.Dispose();
        _metrics.Dispose();
    }

    private static ResourceBuilder Resource(IConfiguration configuration) => ResourceBuilder.CreateDefault()
        .AddService(configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "ccx-proxy");

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
