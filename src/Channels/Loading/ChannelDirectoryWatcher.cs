using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace CcxProxy.Channels;

/// <summary>
/// Loads a directory of channel files (one channel per <c>*.json</c>) and reloads what changed on every
/// <see cref="Poll"/>. Polling content hashes, not file-system events, is what sees a Kubernetes ConfigMap
/// update: there <c>x.json</c> links to <c>..data/x.json</c> and <c>..data</c> is a symlink swapped
/// atomically, so no event names <c>x.json</c>; reading through the link and hashing does.
/// </summary>
internal sealed partial class ChannelDirectoryWatcher : IChannelStore, IDisposable
{
    /// <summary>Files larger than this are rejected unread: a channel file is a few hundred bytes.</summary>
    internal const int MaxFileBytes = 1 << 20;

    private readonly Func<string, string?> _environment;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _pollLock = new();
    private readonly SortedDictionary<string, FileState> _files = new(StringComparer.Ordinal);

    private ChannelSnapshot _current;
    private CancellationTokenSource _changeSource = new();
    private List<object> _signature = [];
    private bool _directoryMissing;
    private readonly bool _isLoaded;

    public ChannelDirectoryWatcher(ChannelsOptions options, Func<string, string?> environment, TimeProvider time, ILogger<ChannelDirectoryWatcher> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        DirectoryPath = Path.GetFullPath(options.Directory);
        PollInterval = options.PollInterval > TimeSpan.Zero ? options.PollInterval : TimeSpan.FromSeconds(1);
        _environment = environment;
        _time = time;
        _logger = logger;
        _current = ChannelSnapshot.Empty(DirectoryPath, time.GetUtcNow());

        // First load synchronously, so the store is loaded as soon as it is resolved.
        Poll();
        _isLoaded = true;
    }

    /// <summary>The full path of the watched directory.</summary>
    public string DirectoryPath { get; }

    /// <summary>How often the hosted service calls <see cref="Poll"/>.</summary>
    public TimeSpan PollInterval { get; }

    public ChannelSnapshot Current => Volatile.Read(ref _current);

    public bool IsLoaded => _isLoaded;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changeSource).Token);

    /// <summary>Reads the directory once, re-parses changed files and publishes a new snapshot if anything changed.</summary>
    /// <returns>True when a new snapshot was published.</returns>
    public bool Poll()
    {
        CancellationTokenSource? fired;
        lock (_pollLock)
        {
            fired = PollLocked();
        }

        // Fire outside the lock: listeners (YARP's config manager) call back into Current.
        fired?.Cancel();
        return fired is not null;
    }

    public void Dispose() => _changeSource.Dispose();

    private CancellationTokenSource? PollLocked()
    {
        var now = _time.GetUtcNow();
        if (!TryListFiles(out var names))
        {
            return null;
        }

        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (ReadAndParse(name))
            {
                present.Add(name);
            }
        }

        foreach (var gone in _files.Keys.Where(n => !present.Contains(n)).ToList())
        {
            _files.Remove(gone);
            Log.FileRemoved(_logger, gone);
        }

        var (live, rejected, signature, groups) = Resolve(now);
        if (signature.SequenceEqual(_signature, SignatureComparer.Instance) && _current.Version > 0)
        {
            return null;
        }

        _signature = signature;
        var snapshot = new ChannelSnapshot(live, rejected, _current.Version + 1, now, DirectoryPath, groups);
        Volatile.Write(ref _current, snapshot);
        Log.SnapshotPublished(_logger, snapshot.Version, snapshot.Channels.Count, snapshot.Rejected.Count);
        return Interlocked.Exchange(ref _changeSource, new CancellationTokenSource());
    }

    /// <summary>Lists <c>*.json</c> directly in the directory, skipping dot-files (ConfigMap internals).</summary>
    private bool TryListFiles(out List<string> names)
    {
        names = [];
        if (!Directory.Exists(DirectoryPath))
        {
            if (!_directoryMissing)
            {
                _directoryMissing = true;
                Log.DirectoryMissing(_logger, DirectoryPath);
            }

            return true;
        }

        _directoryMissing = false;
        try
        {
            foreach (var path in Directory.EnumerateFiles(DirectoryPath, "*.json", SearchOption.TopDirectoryOnly))
            {
                var name = Path.GetFileName(path);
                if (!name.StartsWith('.') && name.EndsWith(".json", StringComparison.Ordinal))
                {
                    names.Add(name);
                }
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Leave everything as it was; the next poll retries.
            Log.ListFailed(_logger, DirectoryPath, ex);
            return false;
        }
    }

    /// <summary>Reads one file and re-parses it when its hash changed.</summary>
    /// <returns>False when the file is unreadable and unknown (so it is treated as absent).</returns>
    private bool ReadAndParse(string name)
    {
        byte[] bytes;
        bool tooLarge;
        try
        {
            (bytes, tooLarge) = ReadCapped(Path.Combine(DirectoryPath, name));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Mid-swap (a dangling link, a file being replaced): keep this file's state, retry next poll.
            Log.ReadFailed(_logger, name, ex);
            return _files.ContainsKey(name);
        }

        _files.TryGetValue(name, out var state);
        var hash = Hash(bytes, state?.Parsed?.ReferencedFiles is { Count: > 0 } referenced ? ChannelFileParser.DigestReferencedFiles(referenced) : "");
        if (state is not null && state.Hash == hash)
        {
            return true;
        }

        state ??= _files[name] = new FileState();
        state.Hash = hash;
        if (name == GroupsFileParser.FileName)
        {
            state.GroupsParsed = tooLarge
                ? new GroupsParseResult(null, [new ChannelConfigError(name, "(file)", $"larger than {MaxFileBytes} bytes")])
                : GroupsFileParser.Parse(name, bytes);
            return true;
        }

        state.Parsed = tooLarge
            ? new ChannelParseResult(null, [new ChannelConfigError(name, "(file)", $"larger than {MaxFileBytes} bytes")])
            : ChannelFileParser.Parse(name, bytes, _environment, DirectoryPath);
        // The hash now covers the CA files the channel names, as the parser read them, so rotating one (a
        // Secret update) reloads the channel.
        state.Hash = Hash(bytes, state.Parsed.ReferencedDigest);
        return true;
    }

    /// <summary>The file's content hash, with the digest of the files it names.</summary>
    private static string Hash(byte[] bytes, string referencedDigest) =>
        Convert.ToHexString(SHA256.HashData(bytes)) + referencedDigest;

    private static (byte[] Bytes, bool TooLarge) ReadCapped(string path)
    {
        // FileStream follows symlinks, which is what a ConfigMap mount needs.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length > MaxFileBytes)
        {
            return ([], true);
        }

        using var buffer = new MemoryStream((int)stream.Length);
        stream.CopyTo(buffer);
        return buffer.Length > MaxFileBytes ? ([], true) : (buffer.ToArray(), false);
    }

    /// <summary>
    /// Decides what is live: files in ordinal order; a valid file whose name is already taken (case-insensitive)
    /// by an earlier file is rejected; a rejected file keeps its last good version live if that name is free.
    /// </summary>
    private (List<ChannelConfig> Live, List<RejectedChannelFile> Rejected, List<object> Signature, IReadOnlyDictionary<string, GroupConfig>? Groups) Resolve(DateTimeOffset now)
    {
        var taken = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var live = new List<ChannelConfig>();
        var rejected = new List<RejectedChannelFile>();
        var signature = new List<object>();
        IReadOnlyDictionary<string, GroupConfig>? groups = null;

        foreach (var (file, state) in _files)
        {
            if (state.GroupsParsed is { } groupsParsed)
            {
                groups = ResolveGroups(file, state, groupsParsed, now, rejected, signature);
                continue;
            }

            var parsed = state.Parsed!;
            IReadOnlyList<ChannelConfigError>? errors = null;
            if (parsed.IsValid)
            {
                var channel = parsed.Channel!;
                if (taken.TryGetValue(channel.Name, out var owner))
                {
                    errors = [new ChannelConfigError(file, "name", $"channel name \"{channel.Name}\" is already used by {owner}")];
                }
                else
                {
                    if (!ReferenceEquals(state.LastGood, channel))
                    {
                        state.LastGood = channel;
                        Log.ChannelLoaded(_logger, channel.Name, file);
                    }

                    taken[channel.Name] = file;
                    live.Add(channel);
                    signature.Add(channel);
                    state.ClearRejection();
                    continue;
                }
            }
            else
            {
                errors = parsed.Errors;
            }

            var stillLive = false;
            if (state.LastGood is { } lastGood && taken.TryAdd(lastGood.Name, file))
            {
                live.Add(lastGood);
                signature.Add(lastGood);
                stillLive = true;
            }

            var key = state.Hash + "\n" + string.Join("\n", errors);
            if (state.RejectionKey != key)
            {
                state.RejectionKey = key;
                state.RejectionErrors = errors;
                state.RejectedAt = now;
                Log.FileRejected(_logger, file, errors.Count, stillLive);
                foreach (var error in errors)
                {
                    Log.RejectionError(_logger, error.File, error.Field, error.Message);
                }
            }

            rejected.Add(new RejectedChannelFile(file, state.RejectionErrors!, state.RejectedAt, stillLive));
            signature.Add($"rejected:{file}:{key}:{stillLive}");
        }

        return (live, rejected, signature, groups);
    }

    /// <summary>The groups file: the same last-good rule as channel files.</summary>
    private IReadOnlyDictionary<string, GroupConfig>? ResolveGroups(string file, FileState state, GroupsParseResult parsed, DateTimeOffset now,
        List<RejectedChannelFile> rejected, List<object> signature)
    {
        if (parsed.IsValid)
        {
            if (!ReferenceEquals(state.LastGoodGroups, parsed.Groups))
            {
                state.LastGoodGroups = parsed.Groups;
                Log.GroupsLoaded(_logger, parsed.Groups!.Count, file);
            }

            state.ClearRejection();
            signature.Add(parsed.Groups!);
            return parsed.Groups;
        }

        var stillLive = state.LastGoodGroups is not null;
        var key = state.Hash + "\n" + string.Join("\n", parsed.Errors);
        if (state.RejectionKey != key)
        {
            state.RejectionKey = key;
            state.RejectionErrors = parsed.Errors;
            state.RejectedAt = now;
            Log.FileRejected(_logger, file, parsed.Errors.Count, stillLive);
            foreach (var error in parsed.Errors)
            {
                Log.RejectionError(_logger, error.File, error.Field, error.Message);
            }
        }

        rejected.Add(new RejectedChannelFile(file, state.RejectionErrors!, state.RejectedAt, stillLive));
        signature.Add($"rejected:{file}:{key}:{stillLive}");
        if (state.LastGoodGroups is { } lastGood)
        {
            signature.Add(lastGood);
        }

        return state.LastGoodGroups;
    }

    private sealed class FileState
    {
        public string? Hash { get; set; }

        public ChannelParseResult? Parsed { get; set; }

        public ChannelConfig? LastGood { get; set; }

        public GroupsParseResult? GroupsParsed { get; set; }

        public IReadOnlyDictionary<string, GroupConfig>? LastGoodGroups { get; set; }

        public string? RejectionKey { get; set; }

        public IReadOnlyList<ChannelConfigError>? RejectionErrors { get; set; }

        public DateTimeOffset RejectedAt { get; set; }

        public void ClearRejection()
        {
            RejectionKey = null;
            RejectionErrors = null;
        }
    }

    /// <summary>Channels compare by reference (a re-parse is a change), rejection keys by value.</summary>
    private sealed class SignatureComparer : IEqualityComparer<object>
    {
        public static readonly SignatureComparer Instance = new();

        public new bool Equals(object? x, object? y) => x is string sx ? sx.Equals(y as string, StringComparison.Ordinal) : ReferenceEquals(x, y);

        public int GetHashCode(object obj) => obj is string s ? s.GetHashCode(StringComparison.Ordinal) : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
    }

    private static partial class Log
    {
        [LoggerMessage(9, LogLevel.Information, "{Count} group(s) loaded from {File}")]
        public static partial void GroupsLoaded(ILogger logger, int count, string file);

        [LoggerMessage(1, LogLevel.Information, "Channel {Channel} loaded from {File}")]
        public static partial void ChannelLoaded(ILogger logger, string channel, string file);

        [LoggerMessage(2, LogLevel.Information, "Channel file {File} removed")]
        public static partial void FileRemoved(ILogger logger, string file);

        [LoggerMessage(3, LogLevel.Warning, "Channel file {File} rejected with {ErrorCount} error(s); last good version still live: {LastGoodStillLive}")]
        public static partial void FileRejected(ILogger logger, string file, int errorCount, bool lastGoodStillLive);

        [LoggerMessage(4, LogLevel.Warning, "Channel file {File}: {Field}: {Message}")]
        public static partial void RejectionError(ILogger logger, string file, string field, string message);

        [LoggerMessage(5, LogLevel.Warning, "Channel directory {Directory} does not exist; serving no channels until it appears")]
        public static partial void DirectoryMissing(ILogger logger, string directory);

        [LoggerMessage(6, LogLevel.Debug, "Could not read channel file {File}; keeping its current state and retrying at the next poll")]
        public static partial void ReadFailed(ILogger logger, string file, Exception exception);

        [LoggerMessage(7, LogLevel.Warning, "Could not list channel directory {Directory}; retrying at the next poll")]
        public static partial void ListFailed(ILogger logger, string directory, Exception exception);

        [LoggerMessage(8, LogLevel.Information, "Channel snapshot {Version} published: {ChannelCount} live, {RejectedCount} rejected")]
        public static partial void SnapshotPublished(ILogger logger, long version, int channelCount, int rejectedCount);
    }
}
