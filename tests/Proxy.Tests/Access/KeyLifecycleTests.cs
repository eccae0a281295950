using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using CcxProxy.Cli;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Access;

/// <summary>
/// A key's whole life, the way an operator lives it: created with the CLI (printed once), used through a
/// running gateway that shares the CLI's Redis, limited with the CLI, revoked with the CLI — and its secret
/// never in Redis, in the gateway's logs (at Trace level) or in any response.
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(60_000)]
public sealed partial class KeyLifecycleTests
{
    [GeneratedRegex("ccx-[A-Za-z0-9]{40}")]
    private static partial Regex KeyPattern();

    private static async Task<(int Code, string Out)> CliAsync(RedisServer redis, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CliContext { Out = output, Error = error, WorkingDirectory = Path.GetTempPath(), Timeout = TimeSpan.FromSeconds(10) };
        var code = await CliApp.RunAsync([.. args, $"--Redis:Configuration={redis.ConnectionString}"], context).WaitAsync(TimeSpan.FromSeconds(30));
        return (code, output + error.ToString());
    }

    [Test]
    public async Task CreateUseLimitRevoke_ThroughCliAndGateway_SecretNeverStoredOrShown()
    {
        await using var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl(), """ "groups": ["team-a"] """) },
            new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString });
        const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";
        var bodies = new List<string>();

        async Task<HttpStatusCode> CallAsync(string key)
        {
            var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body, key: key));
            bodies.Add(json?.ToJsonString() ?? "");
            bodies.Add(string.Join("\n", response.Headers.Select(h => $"{h.Key}: {string.Join(",", h.Value)}")));
            return response.StatusCode;
        }

        // Created once, printed once.
        var (created, createOutput) = await CliAsync(redis, "keys", "create", "--group", "team-a", "--label", "ci");
        Assert.That(created, Is.Zero, createOutput);
        var key = KeyPattern().Match(createOutput).Value;
        Assert.That(key, Is.Not.Empty, createOutput);
        var (_, listOutput) = await CliAsync(redis, "keys", "list");
        Assert.That(listOutput, Does.Not.Contain(key));
        var id = Regex.Match(listOutput, "[0-9a-f]{12}").Value;

        // Used through the gateway (group team-a owns the channel).
        Assert.That(await CallAsync(key), Is.EqualTo(HttpStatusCode.OK));

        // Limited with the CLI: 1 request per minute; every replica applies it within 5 s (the lookup cache).
        var (limited, limitOutput) = await CliAsync(redis, "keys", "set-limits", id, "--rpm", "1");
        Assert.That(limited, Is.Zero, limitOutput);
        Assert.That(await EventuallyAsync(() => CallAsync(key), HttpStatusCode.TooManyRequests), Is.EqualTo(HttpStatusCode.TooManyRequests));

        // Revoked with the CLI: refused within 5 s.
        var (revoked, revokeOutput) = await CliAsync(redis, "keys", "revoke", id);
        Assert.That(revoked, Is.Zero, revokeOutput);
        Assert.That(await EventuallyAsync(() => CallAsync(key), HttpStatusCode.Unauthorized), Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(bodies[^2], Does.Contain("revoked"));

        // The secret is nowhere: not in Redis (keys or values), the gateway's logs, or any response.
        var dump = await DumpRedisAsync(redis);
        Assert.That(dump, Does.Not.Contain(key).And.Not.Contain(key[4..]));
        Assert.That(dump, Does.Contain(id), "the store does hold the key's hash");
        Assert.That(gateway.Logs.All, Does.Not.Contain(key[4..]));
        Assert.That(gateway.Logs.All, Does.Not.Contain(FakeKeys.Upstream));
        Assert.That(string.Join("\n", bodies), Does.Not.Contain(key[4..]).And.Not.Contain(FakeKeys.Upstream));
    }

    private static async Task<HttpStatusCode> EventuallyAsync(Func<Task<HttpStatusCode>> call, HttpStatusCode expected)
    {
        var clock = Stopwatch.StartNew();
        HttpStatusCode last;
        do
        {
            last = await call();
            if (last == expected)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (clock.Elapsed < TimeSpan.FromSeconds(5));

        return last;
    }

    private static async Task<string> DumpRedisAsync(RedisServer redis)
    {
        var lines = new List<string>();
        foreach (var name in (await redis.CommandAsync("KEYS", "*")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            lines.Add(name);
            var type = await redis.CommandAsync("TYPE", name);
            lines.Add(type switch
            {
                "hash" => await redis.CommandAsync("HGETALL", name),
                "set" => await redis.CommandAsync("SMEMBERS", name),
                "zset" => await redis.CommandAsync("ZRANGE", name, "0", "-1", "WITHSCORES"),
                "string" => await redis.CommandAsync("GET", name),
                _ => type,
            });
        }

        return string.Join("\n", lines);
    }
}
