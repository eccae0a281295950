using System.Buffers;
using System.IO.Pipelines;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Transforms.Adapter;

/// <summary>
/// Relays an upstream response to the client through the call's <see cref="ResponsePlan"/>:
/// streams event by event as they arrive (never buffered whole), with a keep-alive in the client's
/// protocol while the upstream is silent and an error frame (never a silent close, never a fake stop)
/// when it breaks, stalls past the idle timeout or ends early; JSON answers converted whole; upstream
/// errors in the client's error shape.
/// </summary>
internal static class ResponseRelay
{
    private const int MaxErrorBodyBytes = 1024 * 1024;

    public static async Task RelayAsync(HttpContext context, HttpResponseMessage upstream, UpstreamCall call, UpstreamAttempt attempt, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.Headers.ContentLength = null;
        try
        {
            var status = (int)upstream.StatusCode;
            if (status >= 400)
            {
                attempt.Failure = FailoverPolicy.Classify(status);
                attempt.RetryAfter = RetryHints.Read(upstream.Headers, upstream.Content.Headers, call.Time.GetUtcNow());
            }

            // Nothing has reached the client: let the next candidate answer instead.
            if (call.MayFailOver && FailoverPolicy.FailsOver(status))
            {
                RetryWith(attempt, $"HTTP {status}", attempt.Failure);
                return;
            }

            if (status >= 400)
            {
                await RelayErrorAsync(response, upstream, call, attempt, cancellationToken).ConfigureAwait(false);
                attempt.Outcome = AttemptOutcome.Completed;
            }
            else if (string.Equals(upstream.Content.Headers.ContentType?.MediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                attempt.Outcome = await RelayStreamAsync(response, upstream, call, attempt, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await RelayJsonAsync(response, upstream, call, attempt, cancellationToken).ConfigureAwait(false);
                if (attempt.Outcome != AttemptOutcome.Retryable)
                {
                    attempt.Outcome = AttemptOutcome.Completed;
                }
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // Not the upstream's failure (a failure its status already showed stays recorded).
            attempt.Outcome = AttemptOutcome.ClientAborted;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            // Reading a non-streamed body failed part way (cut, or over the size the gateway holds).
            attempt.Outcome = context.RequestAborted.IsCancellationRequested ? AttemptOutcome.ClientAborted : AttemptOutcome.UpstreamCut;
            if (attempt.Outcome != AttemptOutcome.UpstreamCut)
            {
                return;
            }

            var failure = ex is ResponseTooLargeException ? FailureKind.BadAnswer : FailureKind.StreamFailed;
            if (attempt.Failure == FailureKind.None)
            {
                attempt.Failure = failure;
            }

            if (response.HasStarted)
            {
                return;
            }

            var reason = ex is ResponseTooLargeException
                ? $"an answer larger than the gateway's limit of {call.MaxResponseBytes} bytes"
                : "an answer that broke off before it was complete";
            if (call.MayFailOver)
            {
                RetryWith(attempt, reason, failure);
                return;
            }

            // Never a 200 with an empty body: the client learns what happened, in its own shape.
            attempt.Error = new GatewayError(StatusCodes.Status502BadGateway, $"the upstream of channel '{call.ChannelName}' sent {reason}");
        }
    }

    private static async Task RelayJsonAsync(HttpResponse response, HttpResponseMessage upstream, UpstreamCall call, UpstreamAttempt attempt, CancellationToken cancellationToken)
    {
        var body = await ReadBoundedAsync(upstream, call.MaxResponseBytes, cancellationToken).ConfigureAwait(false);
        if (!RequestJson.IsJsonObject(body.Span) && call.MayFailOver)
        {
            RetryWith(attempt, body.Length == 0 ? "empty answer" : "an answer that is not JSON", FailureKind.BadAnswer);
            return;
        }

        if (!RequestJson.IsJsonObject(body.Span))
        {
            attempt.Failure = FailureKind.BadAnswer;
            // A wrong baseUrl landing on a web page, a captive portal, a CDN challenge: not an answer the
            // client's SDK can read, so say what came back instead of relaying it.
            attempt.Error = new GatewayError(StatusCodes.Status502BadGateway,
                $"the upstream of channel '{call.ChannelName}' answered HTTP {(int)upstream.StatusCode} with {upstream.Content.Headers.ContentType?.MediaType ?? "no content type"}, not a JSON answer");
            return;
        }

        ConvertedAnswer converted;
        try
        {
            converted = call.Plan.ConvertJson(body);
        }
        catch (Exception ex) when (JsonShape.IsWrongShape(ex))
        {
            // JSON, but not an answer of the upstream's protocol (a wrong baseUrl or type on the channel).
            attempt.Failure = FailureKind.BadAnswer;
            attempt.Error = new GatewayError(StatusCodes.Status502BadGateway,
                $"the upstream of channel '{call.ChannelName}' answered with JSON that is not a valid {AnswerName(call.UpstreamProtocol)}");
            return;
        }

        // The upstream's 200 held a failure, converted into the client's error object: a bad answer, sent with 502,
        // never under 200, where the client's SDK would take it for an answer.
        if (converted.UpstreamFailed)
        {
            if (call.MayFailOver)
            {
                RetryWith(attempt, "an error inside a 200 answer", FailureKind.BadAnswer);
                return;
            }

            attempt.Failure = FailureKind.BadAnswer;
            await ErrorResponse.RelayAsync(response, StatusCodes.Status502BadGateway,
                SecretScrubber.Scrub(converted.Body, SecretScrubber.SecretsOf(call)), cancellationToken).ConfigureAwait(false);
            return;
        }

        attempt.Usage = UsageReader.Read(call.WireProtocol, converted.Body.Span);
        call.Capture?.Json(body);
        var scrubbed = SecretScrubber.Scrub(converted.Body, SecretScrubber.SecretsOf(call));
        await BeforeLastWriteAsync(call).ConfigureAwait(false);
        await WriteAnswerAsync(response, scrubbed, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Marks the attempt for the next candidate (the host resets the unstarted response before that one answers).</summary>
    private static void RetryWith(UpstreamAttempt attempt, string reason, FailureKind failure)
    {
        attempt.Outcome = AttemptOutcome.Retryable;
        attempt.RetryReason = reason;
        attempt.Failure = failure;
    }

    private static async Task RelayErrorAsync(HttpResponse response, HttpResponseMessage upstream, UpstreamCall call, UpstreamAttempt attempt, CancellationToken cancellationToken)
    {
        var status = (int)upstream.StatusCode;
        var body = await ReadBoundedAsync(upstream, MaxErrorBodyBytes, cancellationToken).ConfigureAwait(false);
        if (status is 401 or 403)
        {
            // The upstream refused the channel's own key: the caller cannot fix that, and passing a 401 on
            // would tell Claude Code that the caller's key is wrong. Report a gateway-side failure.
            attempt.Error = new GatewayError(StatusCodes.Status502BadGateway, GatewayMessages.KeysRefused(call.ChannelName, status)) { ShouldRetry = false };
            return;
        }

        var (clientStatus, clientBody) = call.Plan.MapError(status, SecretScrubber.Scrub(body, SecretScrubber.SecretsOf(call)));
        await ErrorResponse.RelayAsync(response, clientStatus, clientBody, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<AttemptOutcome> RelayStreamAsync(HttpResponse response, HttpResponseMessage upstream, UpstreamCall call, UpstreamAttempt attempt, CancellationToken cancellationToken)
    {
        var converter = call.Plan.CreateStreamConverter();
        attempt.Usage = converter.Usage;
        response.ContentType = call.Plan.StreamContentType ?? "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var client = response.BodyWriter;

        // When another candidate could still take over, nothing (not even the headers) goes to the client
        // until the upstream sends its first content: a stream that fails before that is retried invisibly.
        var held = call.MayFailOver ? new ArrayBufferWriter<byte>() : null;
        if (held is null)
        {
            await CommitAsync(response, null, cancellationToken).ConfigureAwait(false);
        }

        converter.Begin(held ?? (IBufferWriter<byte>)client);
        if (held is null)
        {
            await client.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        // One timer per stream for the idle and first-content deadlines and the keep-alives, on the call's clock;
        // the client's going away and the drain's deadline end a read too.
        using var timers = new StreamTimers(call.Time, call.PingInterval, converter, client, cancellationToken);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, call.DrainDeadline, timers.Deadline);
        if (held is null)
        {
            timers.StartKeepAlives();
        }

        var upstreamBody = await upstream.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var _ = upstreamBody.ConfigureAwait(false);
        var reader = new SseReader(upstreamBody);
        await using var __ = reader.ConfigureAwait(false);
        var sawContent = false;
        IReadOnlyList<byte[]>? secrets = null;
        while (!converter.Finished)
        {
            SseEvent? next;
            try
            {
                // A deadline that fired while the last read still succeeded (or a budget already spent) ends the
                // stream here, as the timeout it was armed for: the reader would hand out buffered events regardless.
                idle.Token.ThrowIfCancellationRequested();

                // Until the first content event, a read also waits no longer than what is left of the first-content budget.
                var (wait, firstContentBound) = sawContent ? (call.IdleTimeout, false) : NextWait(call, attempt);
                timers.BeginRead(wait, firstContentBound);
                try
                {
                    next = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
                }
                finally
                {
                    await timers.EndReadAsync().ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return AttemptOutcome.ClientAborted;
            }
            catch (OperationCanceledException) when (call.DrainDeadline.IsCancellationRequested)
            {
                if (held is not null)
                {
                    await CommitAsync(response, held, cancellationToken).ConfigureAwait(false);
                    held = null;
                }

                // The gateway's own shutdown: not a failure of the upstream.
                converter.Fail("overloaded_error", "the gateway is shutting down; the stream was ended, retry the request", client);
                await TryFlushAsync(client, cancellationToken).ConfigureAwait(false);
                return AttemptOutcome.UpstreamCut;
            }
            catch (OperationCanceledException) when (timers.FirstContentDeadline)
            {
                var seconds = call.FirstContentTimeout.TotalSeconds;
                return await BrokenAsync(converter, client, held, attempt, new StreamBreak(FailureKind.FirstContentTimeout, $"no content within {seconds:0.###} s",
                    "timeout_error", $"the upstream sent no content within {seconds:0.###} s; the stream was ended", AttemptOutcome.FirstContentTimeout),
                    cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return await BrokenAsync(converter, client, held, attempt, new StreamBreak(FailureKind.IdleTimeout, "the stream went silent before its first content",
                    "timeout_error", $"the upstream sent nothing for {call.IdleTimeout.TotalSeconds:0} s; the stream was ended", AttemptOutcome.IdleTimeout),
                    cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or SseFormatException)
            {
                return await BrokenAsync(converter, client, held, attempt, StreamBreak.Cut("the stream broke before its first content",
                    "the upstream stream broke before it finished"), cancellationToken).ConfigureAwait(false);
            }

            if (next is not { } item)
            {
                if (held is not null)
                {
                    return Retry(attempt, "the stream ended before its first content", FailureKind.StreamFailed);
                }

                var complete = converter.End(client);
                if (complete)
                {
                    await BeforeLastWriteAsync(call).ConfigureAwait(false);
                }

                await TryFlushAsync(client, cancellationToken).ConfigureAwait(false);
                if (!complete)
                {
                    attempt.Failure = FailureKind.StreamFailed;
                }

                return complete ? AttemptOutcome.Completed : AttemptOutcome.UpstreamCut;
            }

            if (!sawContent)
            {
                if (held is not null && IsUpstreamError(item, call.UpstreamProtocol))
                {
                    return Retry(attempt, "an error event before its first content", FailureKind.StreamFailed);
                }

                sawContent = IsCommitPoint(item, call.UpstreamProtocol);
                if (sawContent)
                {
                    attempt.FirstContentTimestamp = call.Time.GetTimestamp();
                }

                if (sawContent && held is not null)
                {
                    await CommitAsync(response, held, cancellationToken).ConfigureAwait(false);
                    held = null;
                    timers.StartKeepAlives();
                }
            }

            // Looked at once per event: whether it is an upstream error decides both what is scrubbed and the outcome.
            var isError = EndsWithError(item, call.UpstreamProtocol);
            if (isError)
            {
                // An upstream error event may echo the request's headers, as error bodies do.
                item = item with { DataUtf8 = SecretScrubber.Scrub(item.DataUtf8, secrets ??= SecretScrubber.SecretsOf(call)) };
            }

            call.Capture?.Event(item);
            try
            {
                converter.Convert(item, held ?? (IBufferWriter<byte>)client);
            }
            catch (Exception ex) when (JsonShape.IsWrongShape(ex))
            {
                return await BrokenAsync(converter, client, held, attempt, StreamBreak.Cut("the stream sent an event the gateway could not read",
                    "the upstream sent an event the gateway could not read; the stream was ended"), cancellationToken).ConfigureAwait(false);
            }

            if (converter.Finished && isError)
            {
                // The upstream's error, relayed as the client's: the stream errored.
                attempt.Failure = FailureKind.StreamFailed;
            }
            else if (converter.Finished)
            {
                // The final frame is written but not yet flushed.
                await BeforeLastWriteAsync(call).ConfigureAwait(false);
            }

            if (held is null && client.UnflushedBytes > 0)
            {
                await client.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (held is not null)
        {
            // Finished without any content event (an empty answer that still ended properly): send it as it is.
            await CommitAsync(response, held, cancellationToken).ConfigureAwait(false);
            await client.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        // Finished: close promptly, since clients wait for EOF (docs/protocols.md §8 #22).
        return AttemptOutcome.Completed;
    }

    /// <summary>
    /// How long the next read may wait before the first content event: the idle timeout, or what is left of the
    /// first-content budget (counted from the attempt's start) when that is shorter; then the timeout that fires
    /// is the first-content one.
    /// </summary>
    private static (TimeSpan Wait, bool FirstContentBound) NextWait(UpstreamCall call, UpstreamAttempt attempt)
    {
        if (call.FirstContentTimeout == Timeout.InfiniteTimeSpan)
        {
            return (call.IdleTimeout, false);
        }

        var left = call.FirstContentTimeout - call.Time.GetElapsedTime(attempt.StartedTimestamp);
        if (left < TimeSpan.Zero)
        {
            left = TimeSpan.Zero;
        }

        return call.IdleTimeout == Timeout.InfiniteTimeSpan || left < call.IdleTimeout ? (left, true) : (call.IdleTimeout, false);
    }

    /// <summary>Sends the headers (and whatever was held back); from here on the client has this candidate's answer.</summary>
    private static async Task CommitAsync(HttpResponse response, ArrayBufferWriter<byte>? held, CancellationToken cancellationToken)
    {
        await response.StartAsync(cancellationToken).ConfigureAwait(false);
        if (held is { WrittenCount: > 0 })
        {
            await response.BodyWriter.WriteAsync(held.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>How a stream broke: the failure, the reason to retry with, and what the client is told once it is its own.</summary>
    private readonly record struct StreamBreak(FailureKind Failure, string RetryReason, string ErrorType, string Message, AttemptOutcome Outcome)
    {
        /// <summary>Cut, or an event that could not be read: a broken stream.</summary>
        public static StreamBreak Cut(string retryReason, string message) =>
            new(FailureKind.StreamFailed, retryReason, "api_error", message, AttemptOutcome.UpstreamCut);
    }

    /// <summary>
    /// A stream that broke (cut, an event the gateway could not read, a timeout). Before the first content another
    /// candidate takes over; after it, the stream ends with an error event.
    /// </summary>
    private static async Task<AttemptOutcome> BrokenAsync(IStreamConverter converter, PipeWriter client, ArrayBufferWriter<byte>? held,
        UpstreamAttempt attempt, StreamBreak broke, CancellationToken cancellationToken)
    {
        if (held is not null)
        {
            return Retry(attempt, broke.RetryReason, broke.Failure);
        }

        attempt.Failure = broke.Failure;
        converter.Fail(broke.ErrorType, broke.Message, client);
        await TryFlushAsync(client, cancellationToken).ConfigureAwait(false);
        return broke.Outcome;
    }

    private static AttemptOutcome Retry(UpstreamAttempt attempt, string reason, FailureKind failure)
    {
        RetryWith(attempt, reason, failure);
        return AttemptOutcome.Retryable;
    }

    private static string AnswerName(WireProtocol upstream) => upstream switch
    {
        WireProtocol.OpenAI => "chat completion",
        WireProtocol.Responses => "response",
        WireProtocol.Gemini => "Gemini response",
        _ => "message",
    };

    /// <summary>An upstream error frame (Anthropic <c>event: error</c>, OpenAI <c>data: {"error": …}</c>, Responses <c>error</c> or <c>response.failed</c>).</summary>
    private static bool IsUpstreamError(in SseEvent item, WireProtocol upstream) => upstream switch
    {
        WireProtocol.Anthropic => item.EventType == "error",
        WireProtocol.Responses => item.EventType is "error" or "response.failed",
        _ => !item.IsComment && item.DataUtf8.Span.TrimStart(" \t\r\n"u8).StartsWith("{\"error\""u8),
    };

    /// <summary>
    /// Whether the event that finished the stream was an upstream error rather than its proper end: an error
    /// frame (<see cref="IsUpstreamError"/>), and for OpenAI also a named <c>event: error</c>, an <c>"error"</c>
    /// key anywhere in the chunk, or OpenRouter's <c>finish_reason: "error"</c> (docs/protocols.md §5), as the
    /// converters read them. Proper ends (<c>message_stop</c>, <c>[DONE]</c>, a usage chunk) have no such token.
    /// </summary>
    private static bool EndsWithError(in SseEvent item, WireProtocol upstream) =>
        IsUpstreamError(item, upstream)
        || (upstream == WireProtocol.OpenAI && !item.IsComment && (item.EventType == "error" || item.DataUtf8.Span.IndexOf("\"error\""u8) >= 0));

    /// <summary>
    /// The first upstream event that means the answer has begun: content (text, thinking, a tool call), or the
    /// end of an empty but complete answer. Comments, pings, <c>message_start</c> and role-only chunks are not.
    /// </summary>
    private static bool IsCommitPoint(in SseEvent item, WireProtocol upstream)
    {
        if (item.IsComment)
        {
            return false;
        }

        if (upstream == WireProtocol.Anthropic)
        {
            return item.EventType is "content_block_start" or "content_block_delta" or "message_delta" or "message_stop";
        }

        if (upstream == WireProtocol.Gemini)
        {
            // A part with text (a thought's too) or a call, or the end of an answer (finished, or its prompt blocked).
            var chunk = item.DataUtf8.Span;
            return chunk.IndexOf("\"functionCall\""u8) >= 0 || chunk.IndexOf("\"finishReason\""u8) >= 0 || chunk.IndexOf("\"blockReason\""u8) >= 0
                || HasText(chunk, "\"text\""u8);
        }

        if (upstream == WireProtocol.Responses)
        {
            // Everything after the response's announcement is its content, or its end.
            return item.EventType is { } type && type.StartsWith("response.", StringComparison.Ordinal) && type is not ("response.created" or "response.in_progress");
        }

        var data = item.DataUtf8.Span;
        return data.SequenceEqual("[DONE]"u8)
            || data.IndexOf("\"tool_calls\""u8) >= 0
            || HasText(data, "\"finish_reason\""u8)
            || HasText(data, "\"content\""u8)
            || HasText(data, "\"reasoning_content\""u8)
            || HasText(data, "\"reasoning\""u8)
            || HasText(data, "\"text\""u8);
    }

    /// <summary>
    /// True when some <paramref name="name"/> (a quoted field name) has a non-empty string value. JSON may put
    /// whitespace around the colon (Google writes <c>"text": "…"</c>), and an empty value (<c>"text": ""</c>, as a
    /// signature-only part has) does not hide a later one.
    /// </summary>
    private static bool HasText(ReadOnlySpan<byte> data, ReadOnlySpan<byte> name)
    {
        while (data.IndexOf(name) is var at and >= 0)
        {
            data = data[(at + name.Length)..];
            var value = data.TrimStart(" \t\r\n"u8);
            if (value.IsEmpty || value[0] != (byte)':')
            {
                continue;
            }

            value = value[1..].TrimStart(" \t\r\n"u8);
            if (value.Length > 1 && value[0] == (byte)'"' && value[1] != (byte)'"')
            {
                return true;
            }
        }

        return false;
    }

    private static Task BeforeLastWriteAsync(UpstreamCall call) => call.BeforeLastWrite?.Invoke() ?? Task.CompletedTask;

    private static async Task TryFlushAsync(PipeWriter client, CancellationToken cancellationToken)
    {
        try
        {
            await client.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone too; nothing left to tell.
        }
    }

    /// <summary>Writes a converted JSON answer under the status the upstream gave.</summary>
    private static async Task WriteAnswerAsync(HttpResponse response, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBoundedAsync(HttpResponseMessage upstream, int limit, CancellationToken cancellationToken)
    {
        var stream = await upstream.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var _ = stream.ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new ResponseTooLargeException($"upstream response larger than {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    /// <summary>A non-streamed upstream body over the size the gateway holds: not an answer it can use.</summary>
    private sealed class ResponseTooLargeException(string message) : IOException(message);
}
