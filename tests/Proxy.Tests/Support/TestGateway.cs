using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CcxProxy.Tests.Support;

/// <summary>
/// The real gateway, built by the same code as <c>dotnet run</c>, listening on a free loopback port,
/// with its channel files in a temporary folder and every log line captured (at Trace level) so
/// tests can check that no secret is ever logged.
/// </summary>
public sealed class TestGateway : IAsyncDisposable
{
    public const string AccessKey = "ccx-test-access-key-7f3a9c";
    public const string SecondAccessKey = "ccx-second-key-2b81d4";

    /// <summary>The operators' key (Admin:AccessKey): what /status and /admin/* take.</summary>
    public const string AdminKey = "ccx-test-admin-key-6e02f1";

    private readonly WebApplication _app;

    private TestGateway(WebApplication app, Uri baseUrl, string channelsDirectory, CapturingLoggerProvider logs)
    {
        _app = app;
        BaseUrl = baseUrl;
        ChannelsDirectory = channelsDirectory;
        Logs = logs;
        // A caller is another process: its requests carry the headers a test gives them and nothing else. With
        // the default propagator, this process's listeners (OpenTelemetry's, while any gateway here exports OTLP)
        // would give each request a client span and write their own traceparent over the test's.
        Client = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null })
        {
            BaseAddress = baseUrl,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public Uri BaseUrl { get; }

    public string ChannelsDirectory { get; }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>A client without credentials; use <see cref="Post"/> for authenticated requests.</summary>
    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a gateway whose channel folder holds <paramref name="channels"/> (file name → JSON).</summary>
    public static async Task<TestGateway> StartAsync(
        IReadOnlyDictionary<string, string>? channels = null,
        IDictionary<string, string?>? settings = null)
    {
        var directory = Directory.CreateTempSubdirectory("ccx-channels-").FullName;
        foreach (var (file, json) in channels ?? new Dictionary<string, string>())
        {
            await File.WriteAllTextAsync(Path.Combine(directory, file), json);
        }

        var config = new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["PROXY_ACCESS_KEY"] = $"{AccessKey}, {SecondAccessKey}",
            ["Admin:AccessKey"] = AdminKey,
            ["Channels:Directory"] = directory,
            ["Channels:PollIntervalSeconds"] = "0.1",
            ["UPSTREAM_KEY"] = FakeKeys.Upstream,
            // Tests stop hundreds of gateways: no endpoint-propagation delay (the shutdown tests set their own).
            ["Shutdown:DelaySeconds"] = "0",
            ["Shutdown:DrainSeconds"] = "5",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        var logs = new CapturingLoggerProvider();
        var app = GatewayApp.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(config);
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddProvider(logs);
        });
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        // The public listener: not the management one a test may have added (Telemetry:PrometheusUrl).
        var management = CcxProxy.Telemetry.OtlpExport.PrometheusPort(app.Configuration);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .First(a => management is not { } port || new Uri(a).Port != port);
        return new TestGateway(app, new Uri(address), directory, logs);
    }

    /// <summary>An Anthropic channel file pointing at <paramref name="upstream"/>, with the upstream key from the environment.</summary>
    public static string AnthropicChannel(Uri upstream, string extraFields = "") =>
        $$"""
        {
          "type": "anthropic",
          "baseUrl": "{{upstream}}",
          "apiKeys": ["env:UPSTREAM_KEY"]{{(extraFields.Length > 0 ? "," : "")}}
          {{extraFields}}
        }
        """;

    /// <summary>An OpenAI Responses channel file pointing at <paramref name="upstream"/> (base URL with its /v1).</summary>
    public static string ResponsesChannel(Uri upstream, string extraFields = "") =>
        OpenAIChannel(upstream, extraFields).Replace("\"type\": \"openai\"", "\"type\": \"responses\"", StringComparison.Ordinal);

    /// <summary>A Gemini channel file pointing at <paramref name="upstream"/> (the API's root, as https://generativelanguage.googleapis.com).</summary>
    public static string GeminiChannel(Uri upstream, string extraFields = "") =>
        $$"""
        {
          "type": "gemini",
          "baseUrl": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
          "apiKeys": ["env:UPSTREAM_KEY"]{{(extraFields.Length > 0 ? "," : "")}}
          {{extraFields}}
        }
        """;

    /// <summary>An OpenAI-protocol channel file pointing at <paramref name="upstream"/> (base URL with its /v1, as the OpenAI SDK takes it).</summary>
    public static string OpenAIChannel(Uri upstream, string extraFields = "") =>
        $$"""
        {
          "type": "openai",
          "baseUrl": "{{upstream.GetLeftPart(UriPartial.Authority)}}/v1",
          "apiKeys": ["env:UPSTREAM_KEY"]{{(extraFields.Length > 0 ? "," : "")}}
          {{extraFields}}
        }
        """;

    /// <summary>A POST with the gateway key as x-api-key (or as a bearer token).</summary>
    public HttpRequestMessage Post(string path, string json, bool bearer = false, string? key = AccessKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            if (bearer)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }
            else
            {
                request.Headers.Add("x-api-key", key);
            }
        }

        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    public async Task<(HttpResponseMessage Response, JsonNode? Json)> SendAsync(HttpRequestMessage request)
    {
        var response = await Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
        JsonNode? json = null;
        try
        {
            json = text.Length > 0 ? JsonNode.Parse(text) : null;
        }
        catch (System.Text.Json.JsonException)
        {
        }

        return (response, json);
    }

    /// <summary>Stops the host the way SIGTERM does (the hosted services' stop sequence), without disposing it.</summary>
    public Task StopAsync() => _app.StopAsync();

    public Task WriteChannelAsync(string file, string json) => File.WriteAllTextAsync(Path.Combine(ChannelsDirectory, file), json);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(ChannelsDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Upstream keys used by the tests; they must never show up in a response or a log.</summary>
public static class FakeKeys
{
    public const string Upstream = "sk-ant-upstream-secret-91c2e7";
}

/// <summary>Keeps every formatted log line (with exception text) in memory.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public string All => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
