using System.Text.Json;
using System.Text.RegularExpressions;
using CcxProxy.Cli;
using CcxProxy.Keys;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Tests.Cli;

/// <summary>The CLI verbs run in process, against a real redis-server.</summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(120_000)]
public sealed partial class CliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private RedisServer _redis = null!;
    private string _workingDirectory = null!;

    [GeneratedRegex("ccx-[A-Za-z0-9]{40}")]
    private static partial Regex KeyPattern();

    private string RedisArg => $"--Redis:Configuration={_redis.ConnectionString}";

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        _redis = await RedisServer.StartAsync();
        // An empty folder: no appsettings.json beside the test binaries leaks in.
        _workingDirectory = Directory.CreateTempSubdirectory("ccx-cli-").FullName;
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        await _redis.DisposeAsync();
        Directory.Delete(_workingDirectory, recursive: true);
    }

    [SetUp]
    public async Task FlushAsync() => Assert.That(await _redis.CommandAsync("FLUSHALL"), Is.EqualTo("OK"));

    private async Task<(int Code, string Out, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CliContext
        {
            Out = output,
            Error = error,
            WorkingDirectory = _workingDirectory,
            Environment = name => "dummy-" + name,
            Timeout = TimeSpan.FromSeconds(10),
        };
        var code = await CliApp.RunAsync(args, context).WaitAsync(Timeout);
        return (code, output.ToString(), error.ToString());
    }

    private async Task<(string Key, string Id)> CreateKeyAsync(params string[] extra)
    {
        var (code, output, error) = await RunAsync(["keys", "create", "--group", "team-a", .. extra, RedisArg]);
        Assert.That(code, Is.Zero, error);
        var key = KeyPattern().Match(output).Value;
        return (key, KeyHashes.Hex(key)[..12]);
    }

    [Test]
    public async Task KeysCreate_PrintsTheKeyOnce_RedisHoldsOnlyItsHash()
    {
        var (code, output, error) = await RunAsync("keys", "create", "--group", "team-a", "--label", "ci runner", "--expires", "30d",
            "--rpm", "60", "--input-tpm", "100000", "--output-tpm", "20000", "--concurrency", "4", "--quota", "1000000", "--quota-period", "day", RedisArg);

        Assert.That(code, Is.Zero, error);
        var keys = KeyPattern().Matches(output + error);
        Assert.That(keys, Has.Count.EqualTo(1), "the key is printed exactly once");
        var key = keys[0].Value;
        var hash = KeyHashes.Hex(key);
        Assert.That(output, Does.Contain(hash[..12]), "and its id");

        var redisKey = "ccx:{keys}:k:" + hash;
        Assert.That(await _redis.CommandAsync("EXISTS", redisKey), Is.EqualTo("1"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "group"), Is.EqualTo("team-a"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "label"), Is.EqualTo("ci runner"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "prefix"), Is.EqualTo(key[..8]));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "limits"), Is.EqualTo(
            """{"requestsPerMinute":60,"inputTokensPerMinute":100000,"outputTokensPerMinute":20000,"concurrency":4,"quota":{"tokens":1000000,"period":"day"}}"""));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "expires"), Is.Not.Empty);
        var everything = await _redis.CommandAsync("KEYS", "*") + await _redis.CommandAsync("HGETALL", redisKey) + await _redis.CommandAsync("SMEMBERS", RedisKeyStore.IndexKey);
        Assert.That(everything, Does.Not.Contain(key));
        Assert.That(everything, Does.Not.Contain(key[4..]));

        foreach (var args in new[] { new[] { "keys", "list" }, ["keys", "list", "--json"], ["keys", "show", hash[..12]], ["keys", "show", hash[..8], "--json"] })
        {
            var (listCode, listOutput, listError) = await RunAsync([.. args, RedisArg]);
            Assert.That(listCode, Is.Zero, listError);
            Assert.That(listOutput + listError, Does.Not.Contain(key).And.Not.Contain(key[4..]).And.Not.Contain(hash), string.Join(' ', args));
            Assert.That(listOutput, Does.Contain(hash[..12]).And.Contain(key[..8]).And.Contain("team-a").And.Contain("ci runner"), string.Join(' ', args));
        }
    }

    [Test]
    public async Task KeysCreate_Json_HoldsKeyAndIdOnce()
    {
        var (code, output, error) = await RunAsync("keys", "create", "--group", "g", "--json", RedisArg);

        Assert.That(code, Is.Zero, error);
        using var json = JsonDocument.Parse(output);
        var key = json.RootElement.GetProperty("key").GetString()!;
        Assert.That(KeyPattern().IsMatch(key), Is.True);
        Assert.That(json.RootElement.GetProperty("id").GetString(), Is.EqualTo(KeyHashes.Hex(key)[..12]));
        Assert.That(json.RootElement.GetProperty("limits").ValueKind, Is.EqualTo(JsonValueKind.Object));
    }

    [Test]
    public async Task KeysList_Json_IsAnArrayOfRecords()
    {
        var (_, first) = await CreateKeyAsync("--label", "one");
        var (_, second) = await CreateKeyAsync("--label", "two", "--rpm", "5");

        var (code, output, _) = await RunAsync("keys", "list", "--json", RedisArg);

        Assert.That(code, Is.Zero);
        using var json = JsonDocument.Parse(output);
        var ids = json.RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetString()).ToList();
        Assert.That(ids, Is.EquivalentTo(new[] { first, second }));
        Assert.That(json.RootElement.EnumerateArray().All(e => !e.TryGetProperty("key", out _) && !e.TryGetProperty("hash", out _)), Is.True);
    }

    [Test]
    public async Task KeysRevoke_ById_DisabledInRedisAndShownRevoked()
    {
        var (key, id) = await CreateKeyAsync();

        var (code, output, error) = await RunAsync("keys", "revoke", id, RedisArg);

        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("Revoked key " + id));
        Assert.That(await _redis.CommandAsync("HGET", "ccx:{keys}:k:" + KeyHashes.Hex(key), "enabled"), Is.EqualTo("0"));
        var (_, shown, _) = await RunAsync("keys", "show", id, RedisArg);
        Assert.That(shown, Does.Match(@"status\s+revoked"));
        Assert.That((await RunAsync("keys", "revoke", id, RedisArg)).Out, Does.Contain("already revoked"));
    }

    [Test]
    public async Task KeysSetLimits_ChangesThenClears()
    {
        var (key, id) = await CreateKeyAsync("--rpm", "60", "--quota", "1000", "--quota-period", "month");
        var redisKey = "ccx:{keys}:k:" + KeyHashes.Hex(key);

        var (code, output, error) = await RunAsync("keys", "set-limits", id, "--concurrency", "2", "--rpm", "none", "--quota-period", "day", RedisArg);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("concurrency=2 quota=1000/day"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "limits"), Is.EqualTo("""{"concurrency":2,"quota":{"tokens":1000,"period":"day"}}"""));

        (code, _, error) = await RunAsync("keys", "set-limits", id, "--clear", RedisArg);
        Assert.That(code, Is.Zero, error);
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "limits"), Is.EqualTo("{}"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "group"), Is.EqualTo("team-a"), "the rest of the record is kept");
    }

    [Test]
    public async Task KeysShow_UnknownOrAmbiguousId_ExitOneAndSaysWhich()
    {
        using var connection = new RedisConnection(_redis.ConnectionString, NullLogger<RedisConnection>.Instance);
        var store = new RedisKeyStore(connection);
        foreach (var digit in "12")
        {
            await store.CreateAsync(new KeyRecord { Hash = "abcdef" + digit + new string('0', 57), Prefix = "ccx-test", Group = "g", CreatedAt = DateTimeOffset.UnixEpoch }, default);
        }

        var ambiguous = await RunAsync("keys", "show", "abcdef", RedisArg);
        Assert.That(ambiguous.Code, Is.EqualTo(1));
        Assert.That(ambiguous.Error, Does.Contain("ambiguous"));

        var unknown = await RunAsync("keys", "revoke", "123456789abc", RedisArg);
        Assert.That(unknown.Code, Is.EqualTo(1));
        Assert.That(unknown.Error, Does.Contain("no key has id"));

        Assert.That((await RunAsync("keys", "show", "abcdef2", RedisArg)).Code, Is.Zero);
    }

    [Test]
    public async Task Keys_NoRedisConfigured_RefusesWithExitTwo()
    {
        foreach (var args in new[] { new[] { "keys", "create", "--group", "g" }, ["keys", "list"], ["keys", "revoke", "abcdef123456"] })
        {
            var (code, output, error) = await RunAsync(args);

            Assert.That(code, Is.EqualTo(2), string.Join(' ', args));
            Assert.That(error, Does.Contain("configure Redis:Configuration to manage keys from the CLI"));
            Assert.That(KeyPattern().IsMatch(output + error), Is.False, "no key is made that nothing would see");
        }

        Assert.That(await _redis.CommandAsync("KEYS", "*"), Is.Empty);
    }

    [Test]
    public async Task Keys_RedisUnreachable_ExitOneWithoutHanging()
    {
        var port = FreePort.Get();

        var (code, _, error) = await RunAsync("keys", "list", $"--Redis:Configuration=127.0.0.1:{port},abortConnect=false,connectTimeout=500,syncTimeout=500");

        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("Redis"));
    }

    [TestCase(new string[0], "unknown command")]
    [TestCase(new[] { "keys" }, "keys needs a command")]
    [TestCase(new[] { "keys", "frobnicate" }, "unknown keys command")]
    [TestCase(new[] { "keys", "create" }, "--group is required")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--rpm", "abc" }, "--rpm must be a whole number")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--rpm", "0" }, "--rpm must be a whole number")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--expires", "tomorrow" }, "--expires 'tomorrow'")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--expires", "2001-01-01" }, "in the past")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--quota-period", "day" }, "--quota-period needs --quota")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--quota", "5", "--quota-period", "week" }, "--quota-period must be")]
    [TestCase(new[] { "keys", "create", "--group", "a b" }, "is not a group name")]
    [TestCase(new[] { "keys", "create", "--group", "g", "--colour", "red" }, "unknown option --colour")]
    [TestCase(new[] { "keys", "create", "--group" }, "--group needs a value")]
    [TestCase(new[] { "keys", "revoke" }, "needs one key ID")]
    [TestCase(new[] { "keys", "revoke", "abc" }, "is not a key id")]
    [TestCase(new[] { "keys", "set-limits", "abcdef123456" }, "give --clear or at least one limit")]
    [TestCase(new[] { "keys", "list", "extra" }, "takes no argument")]
    [TestCase(new[] { "validate", "somewhere" }, "takes no argument")]
    public async Task BadArguments_UsageOnStandardErrorAndExitTwo(string[] args, string message)
    {
        var (code, output, error) = await RunAsync([.. args, RedisArg]);

        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain(message).And.Contain("usage:"));
        Assert.That(output, Is.Empty);
        Assert.That(await _redis.CommandAsync("KEYS", "*"), Is.Empty);
    }

    [Test]
    public async Task Help_PrintsUsageAndExitsZero()
    {
        var (code, output, _) = await RunAsync("keys", "--help");
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("keys create --group NAME"));
        Assert.That((await RunAsync("validate", "--help")).Out, Does.Contain("validate [--channels DIR]"));
    }

    [Test]
    public void CreatedAndParsedExpiry_DateIsMidnightUtc_DurationIsFromNow()
    {
        var now = new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

        Assert.That(KeysCommand.TryParseExpiry("2027-01-01", now, out var date), Is.True);
        Assert.That(date, Is.EqualTo(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        Assert.That(KeysCommand.TryParseExpiry("30d", now, out var days), Is.True);
        Assert.That(days, Is.EqualTo(now.AddDays(30)));
        Assert.That(KeysCommand.TryParseExpiry("12h", now, out var hours), Is.True);
        Assert.That(hours, Is.EqualTo(now.AddHours(12)));
        Assert.That(KeysCommand.TryParseExpiry("2027-01-01T12:00:00+02:00", now, out var instant), Is.True);
        Assert.That(instant, Is.EqualTo(new DateTimeOffset(2027, 1, 1, 10, 0, 0, TimeSpan.Zero)));
        Assert.That(KeysCommand.TryParseExpiry("soon", now, out _), Is.False);
    }

    [Test]
    public async Task Validate_OneGoodOneBadFile_ExitOneWithEveryErrorByFileAndField()
    {
        var directory = Directory.CreateTempSubdirectory("ccx-validate-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "good.json"), """{"type": "anthropic", "baseUrl": "https://api.anthropic.com", "apiKeys": ["env:GOOD_KEY"]}""");
            await File.WriteAllTextAsync(Path.Combine(directory, "bad.json"), """{"type": "nonsense", "baseUrl": "not a url", "apiKeys": ["k"]}""");
            await File.WriteAllTextAsync(Path.Combine(directory, ".hidden.json"), "not json at all");

            var (code, output, _) = await RunAsync("validate", "--channels", directory);

            Assert.That(code, Is.EqualTo(1));
            Assert.That(output, Does.Contain("bad.json: type: "));
            Assert.That(output, Does.Contain("bad.json: baseUrl: "));
            Assert.That(output, Does.Not.Contain("good.json:").And.Not.Contain(".hidden.json"));
            Assert.That(output, Does.Contain("1 of 2 file(s) invalid"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task Validate_BadGroupsFileAndDuplicateNames_Reported()
    {
        var directory = Directory.CreateTempSubdirectory("ccx-validate-").FullName;
        try
        {
            const string Channel = """{"name": "same", "type": "anthropic", "baseUrl": "https://api.anthropic.com", "apiKeys": ["k"]}""";
            await File.WriteAllTextAsync(Path.Combine(directory, "a.json"), Channel);
            await File.WriteAllTextAsync(Path.Combine(directory, "b.json"), Channel);
            await File.WriteAllTextAsync(Path.Combine(directory, "groups.json"), """{"groupz": {}}""");

            var (code, output, _) = await RunAsync("validate", "--channels", directory);

            Assert.That(code, Is.EqualTo(1));
            Assert.That(output, Does.Contain("b.json: name: channel name 'same' is also used by a.json"));
            Assert.That(output, Does.Contain("groups.json: groupz: "));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task Validate_DocsExamples_ExitZero()
    {
        var (code, output, error) = await RunAsync("validate", "--channels", Path.Combine(RepoPaths.Root, "docs", "examples", "channels"));

        Assert.That(code, Is.Zero, output + error);
        Assert.That(output, Does.Contain("all valid"));
    }

    [Test]
    public async Task Validate_ChannelsDirectoryFromConfiguration_IsUsed()
    {
        var (code, output, _) = await RunAsync("validate", $"--Channels:Directory={Path.Combine(RepoPaths.Root, "channels")}");

        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("1 file(s), all valid"));
    }

    [Test]
    public async Task Validate_MissingDirectory_ExitOne()
    {
        var (code, _, error) = await RunAsync("validate", "--channels", Path.Combine(_workingDirectory, "nope"));

        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("does not exist"));
    }
}
