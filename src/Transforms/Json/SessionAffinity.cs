using System.Buffers;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Json;

/// <summary>
/// The key that keeps one conversation on one channel (so the upstream's prompt cache keeps paying off), the
/// same on every replica. In order: a session header (Claude Code's, or Codex's <c>session-id</c>); the session id
/// inside <c>metadata.user_id</c> (the same key as the header, for the same session) or an OpenAI Responses
/// <c>prompt_cache_key</c>; else a hash of the start of the conversation (<c>messages</c>, or Gemini's <c>contents</c>). Read with one forward <see cref="Utf8JsonReader"/> pass, without building a document.
/// </summary>
public static class SessionAffinity
{
    // Strings up to this many bytes are unescaped on the stack; longer ones in a rented array.
    private const int StackBytes = 256;

    // Claude Code before 2.1: user_<hex>_account_<uuid>_session_<uuid>.
    private static ReadOnlySpan<byte> LegacySessionMarker => "_session_"u8;

    /// <summary>
    /// The conversation's affinity key: from the session header, else the session in <c>metadata.user_id</c>,
    /// else a hash of the first messages; null when the body has none of these.
    /// </summary>
    /// <param name="sessionHeader">Claude Code's <c>X-Claude-Code-Session-Id</c>, or null. Blank counts as absent.
    /// When present, the body is not read.</param>
    /// <param name="json">The request body (Messages, Chat Completions or legacy Completions).</param>
    /// <returns>
    /// <see cref="StableHash.Of(ReadOnlySpan{byte})"/> of UTF-8 <c>"session:" + id</c> for a session id (header or metadata). Otherwise
    /// a hash under the prefix <c>"messages:"</c> of the <c>role</c> and the text of <c>content</c> of the
    /// opening of <c>messages</c>, up to and including the first <c>user</c> message (a string, or the <c>text</c> fields of its blocks; <c>cache_control</c> and
    /// every other block field ignored, so moving cache markers do not change it), or, for a legacy
    /// Completions body, <see cref="StableHash.Of(ReadOnlySpan{byte})"/> of <c>"messages:" + prompt</c> (its first element when an
    /// array). Null for malformed JSON, never an exception.
    /// </returns>
    public static ulong? Key(string? sessionHeader, ReadOnlySpan<byte> json)
    {
        if (sessionHeader is not null)
        {
            var id = sessionHeader.AsSpan().Trim();
            if (!id.IsEmpty)
            {
                return SessionKey(id);
            }
        }

        return Scan(json, hashMessages: true, wantSessionId: false, out _) is var (session, messages) ? session ?? messages : null;
    }

    /// <summary>
    /// The session id inside <c>metadata.user_id</c>, or null: the <c>session_id</c> of the JSON object that
    /// Claude Code 2.1 and later encode there (<c>{"device_id":…,"account_uuid":…,"session_id":…}</c>), or the
    /// part after the last <c>_session_</c> of the older <c>user_&lt;hex&gt;_account_&lt;uuid&gt;_session_&lt;uuid&gt;</c>.
    /// </summary>
    /// <param name="json">The request body.</param>
    /// <returns>The trimmed, non-empty session id; null when there is none or the JSON is malformed.</returns>
    public static string? SessionIdFromMetadata(ReadOnlySpan<byte> json) =>
        Scan(json, hashMessages: false, wantSessionId: true, out var id) is not null ? id : null;

    /// <summary>One pass over the body; null when it is not one well-formed JSON object.</summary>
    private static (ulong? Session, ulong? Messages)? Scan(ReadOnlySpan<byte> json, bool hashMessages, bool wantSessionId, out string? sessionId)
    {
        sessionId = null;
        // Escaped strings are unescaped here, rented once (lazily) for the whole body.
        byte[]? scratch = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            ulong? session = null;
            ulong? messages = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isMetadata = reader.ValueTextEquals("metadata"u8);
                // Gemini's contents hold the conversation as messages do: {role, parts: [{text}]}.
                var isMessages = hashMessages && (reader.ValueTextEquals("messages"u8) || reader.ValueTextEquals("contents"u8));
                var isPrompt = hashMessages && reader.ValueTextEquals("prompt"u8);
                var isCacheKey = hashMessages && reader.ValueTextEquals("prompt_cache_key"u8);
                reader.Read();
                if (isMetadata && reader.TokenType == JsonTokenType.StartObject && session is null)
                {
                    session = ReadMetadata(ref reader, ref scratch, wantSessionId, out sessionId);
                }
                else if (isMessages && reader.TokenType == JsonTokenType.StartArray && messages is null)
                {
                    messages = HashMessages(ref reader, ref scratch);
                }
                else if (isPrompt && messages is null)
                {
                    messages = HashPrompt(ref reader, ref scratch);
                }
                else if (isCacheKey && reader.TokenType == JsonTokenType.String && session is null)
                {
                    // OpenAI Responses clients name their conversation for the prompt cache: Codex sends its session id.
                    session = SessionKey(Unescaped(ref reader, ref scratch), wantSessionId: false, out _);
                }
                else
                {
                    reader.Skip();
                }
            }

            // Anything but whitespace after the closing brace makes this read throw.
            reader.Read();
            return (session, messages);
        }
        catch (JsonException)
        {
            sessionId = null;
            return null;
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    /// <summary>Reads <c>metadata</c> (the reader on its <c>{</c>, left on its <c>}</c>) for the session in <c>user_id</c>.</summary>
    private static ulong? ReadMetadata(ref Utf8JsonReader reader, ref byte[]? scratch, bool wantSessionId, out string? sessionId)
    {
        sessionId = null;
        var depth = reader.CurrentDepth;
        ulong? key = null;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            var isUserId = reader.ValueTextEquals("user_id"u8);
            reader.Read();
            if (isUserId && reader.TokenType == JsonTokenType.String && key is null)
            {
                key = SessionFromUserId(Unescaped(ref reader, ref scratch), wantSessionId, out sessionId);
            }
            else
            {
                reader.Skip();
            }
        }

        return key;
    }

    /// <summary>The session key (and, when asked, the id) inside one <c>user_id</c> value (unescaped).</summary>
    private static ulong? SessionFromUserId(ReadOnlySpan<byte> userId, bool wantSessionId, out string? sessionId)
    {
        sessionId = null;
        var trimmed = userId.Trim(" \t\r\n"u8);
        if (trimmed.IsEmpty)
        {
            return null;
        }

        if (trimmed[0] != (byte)'{')
        {
            var marker = trimmed.LastIndexOf(LegacySessionMarker);
            return marker < 0 ? null : SessionKey(trimmed[(marker + LegacySessionMarker.Length)..], wantSessionId, out sessionId);
        }

        try
        {
            var reader = new Utf8JsonReader(trimmed);
            reader.Read();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isSessionId = reader.ValueTextEquals("session_id"u8);
                reader.Read();
                if (isSessionId && reader.TokenType == JsonTokenType.String)
                {
                    if (!reader.ValueIsEscaped)
                    {
                        return SessionKey(reader.ValueSpan, wantSessionId, out sessionId);
                    }

                    // A session id is a UUID: an escaped one is odd enough to pay for a string.
                    return SessionKey(Encoding.UTF8.GetBytes(reader.GetString()!), wantSessionId, out sessionId);
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Not the JSON Claude Code writes: no session here.
        }

        return null;
    }

    /// <summary>The key of a session id given as UTF-8 (trimmed; null when blank).</summary>
    private static ulong? SessionKey(ReadOnlySpan<byte> id, bool wantSessionId, out string? sessionId)
    {
        id = id.Trim(" \t\r\n"u8);
        sessionId = null;
        if (id.IsEmpty)
        {
            return null;
        }

        if (wantSessionId)
        {
            sessionId = Encoding.UTF8.GetString(id);
        }

        return StableHash.Finish(StableHash.Add(StableHash.Add(StableHash.Start, "session:"u8), id));
    }

    /// <summary>The key of a session id given as text (the header), without allocating for ordinary ids.</summary>
    private static ulong SessionKey(ReadOnlySpan<char> id)
    {
        var max = Encoding.UTF8.GetMaxByteCount(id.Length);
        byte[]? rented = null;
        var buffer = max <= StackBytes ? stackalloc byte[StackBytes] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var written = Encoding.UTF8.GetBytes(id, buffer);
            return StableHash.Finish(StableHash.Add(StableHash.Add(StableHash.Start, "session:"u8), buffer[..written]));
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Hashes the opening of <c>messages</c> (the reader on its <c>[</c>, left on its <c>]</c>): every element up
    /// to and including the first <c>user</c> message (system or developer messages before it count), at most
    /// <see cref="MaxOpeningMessages"/>. For each, the hash of its role and the hash of its text, so the order of
    /// their fields does not matter. The opening is what every turn of a conversation repeats, so the first turn
    /// and the later ones get the same key.
    /// </summary>
    private static ulong? HashMessages(ref Utf8JsonReader reader, ref byte[]? scratch)
    {
        var depth = reader.CurrentDepth;
        var state = StableHash.Add(StableHash.Start, "messages:"u8);
        var elements = 0;
        var hashed = 0;
        var opened = false;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == depth))
        {
            if (!opened && elements++ < MaxOpeningMessages && reader.TokenType == JsonTokenType.StartObject)
            {
                var (role, text) = HashMessage(ref reader, ref scratch);
                state = StableHash.Add(state, role);
                state = StableHash.Add(state, text);
                hashed++;
                opened = role == s_userRole;
            }
            else
            {
                reader.Skip();
            }
        }

        return hashed > 0 ? StableHash.Finish(state) : null;
    }

    private const int MaxOpeningMessages = 4;

    // The role hash HashMessage computes for "user".
    private static readonly ulong s_userRole = StableHash.Add(StableHash.Start, "user"u8);

    /// <summary>One message (the reader on its <c>{</c>, left on its <c>}</c>): hashes of its role and of its text.</summary>
    private static (ulong Role, ulong Text) HashMessage(ref Utf8JsonReader reader, ref byte[]? scratch)
    {
        var depth = reader.CurrentDepth;
        var role = StableHash.Start;
        var text = StableHash.Start;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            var isRole = reader.ValueTextEquals("role"u8);
            var isContent = reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("parts"u8);
            reader.Read();
            if (isRole && reader.TokenType == JsonTokenType.String)
            {
                role = StableHash.Add(role, Unescaped(ref reader, ref scratch));
            }
            else if (isContent && reader.TokenType == JsonTokenType.String)
            {
                text = StableHash.Add(text, Unescaped(ref reader, ref scratch));
            }
            else if (isContent && reader.TokenType == JsonTokenType.StartArray)
            {
                text = HashBlocks(ref reader, ref scratch, text);
            }
            else
            {
                reader.Skip();
            }
        }

        return (role, text);
    }

    /// <summary>
    /// The <c>text</c> of every block of a content array (the reader on its <c>[</c>, left on its <c>]</c>), one
    /// after the other: only text blocks have a <c>text</c> field (Anthropic and OpenAI alike), and every other
    /// field (<c>type</c>, <c>cache_control</c>, …) is ignored.
    /// </summary>
    private static ulong HashBlocks(ref Utf8JsonReader reader, ref byte[]? scratch, ulong state)
    {
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            var blockDepth = reader.CurrentDepth;
            while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == blockDepth))
            {
                var isText = reader.ValueTextEquals("text"u8);
                reader.Read();
                if (isText && reader.TokenType == JsonTokenType.String)
                {
                    state = StableHash.Add(state, Unescaped(ref reader, ref scratch));
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        return state;
    }

    /// <summary>A legacy Completions <c>prompt</c>: a string, or the first element of an array when it is one.</summary>
    private static ulong? HashPrompt(ref Utf8JsonReader reader, ref byte[]? scratch)
    {
        var prefix = StableHash.Add(StableHash.Start, "messages:"u8);
        if (reader.TokenType == JsonTokenType.String)
        {
            return StableHash.Finish(StableHash.Add(prefix, Unescaped(ref reader, ref scratch)));
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return null;
        }

        var depth = reader.CurrentDepth;
        ulong? key = null;
        var first = true;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == depth))
        {
            if (first && reader.TokenType == JsonTokenType.String)
            {
                key = StableHash.Finish(StableHash.Add(prefix, Unescaped(ref reader, ref scratch)));
            }

            first = false;
            reader.Skip();
        }

        return key;
    }

    /// <summary>The current string token, unescaped: the body's own bytes when it has no escapes, else a copy in <paramref name="scratch"/>.</summary>
    private static ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader reader, ref byte[]? scratch)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.ValueSpan;
        }

        // Unescaping never lengthens a string.
        var length = reader.ValueSpan.Length;
        if (scratch is null || scratch.Length < length)
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }

            scratch = ArrayPool<byte>.Shared.Rent(Math.Max(length, 4096));
        }

        return scratch.AsSpan(0, reader.CopyString(scratch));
    }
}
