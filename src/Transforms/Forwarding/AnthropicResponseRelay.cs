using System.Text.Json.Nodes;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>
/// Relays an Anthropic-protocol upstream response to a Messages API client. Streams are relayed event
/// by event as they arrive (never buffered whole), with the client's model name put back into
/// <c>message_start</c>; a stream that breaks, stalls or ends without <c>message_stop</c> ends with an
/// <c>event: error</c> rather than a silent close. JSON answers get the client's model back; upstream
/// errors reach the client in Anthropic's error shape.
/// </summary>
internal static class AnthropicResponseRelay
{
    private const int MaxErrorBodyBytes = 1024 * 1024;

    public static async Task RelayAsync(HttpContext context, HttpResponseMessage upstream, UpstreamCall call, UpstreamAttempt attempt, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.Headers.ContentLength = null;
        // Upstream cookies (CDN bot-management and the like) belong to the gateway's connection, not the client.
        response.Headers.Remove("Set-Cookie");
        try
        {
            var status = (int)upstream.StatusCode;
            var mediaType = upstream.Content.Headers.ContentType?.MediaType;
            if (status >= 400)
            {
                await RelayErrorAsync(response, upstream, call, cancellationToken).ConfigureAwait(false);
                attempt.ClientResponseStarted = true;
                attempt.Outcome = AttemptOutcome.Completed;
            }
            else if (string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                attempt.Outcome = await RelayStreamAsync(response, upstream, call, attempt, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await RelayJsonAsync(response, upstream, call, cancellationToken).ConfigureAwait(false);
                attempt.ClientResponseStarted = true;
                attempt.Outcome = AttemptOutcome.Completed;
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            attempt.Outcome = AttemptOutcome.ClientAborted;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            // Reading a non-streamed body failed part way; if nothing was sent yet the host can still answer.
            attempt.ClientResponseStarted = response.HasStarted;
            attempt.Outcome = context.RequestAborted.IsCancellationRequested ? AttemptOutcome.ClientAborted : AttemptOutcome.UpstreamCut;
        }
    }

    private static async Task RelayJsonAsync(HttpResponse response, HttpResponseMessage upstream, UpstreamCall call, CancellationToken cancellationToken)
    {
        var body = await ReadBoundedAsync(upstream, call.MaxResponseBytes, cancellationToken).ConfigureAwait(false);
        if (!RequestJson.IsJsonObject(body.Span))
        {
            // A wrong baseUrl landing on a web page, a captive portal, a CDN challenge: not an answer the
            // client's SDK can read, so say what came back instead of relaying it.
            var output = ErrorBodies.Anthropic(ErrorBodies.AnthropicType(502),
                $"the upstream of channel '{call.ChannelName}' answered HTTP {(int)upstream.StatusCode} with {upstream.Content.Headers.ContentType?.MediaType ?? "no content type"}, not a JSON message",
                call.RequestId);
            response.StatusCode = StatusCodes.Status502BadGateway;
            response.ContentType = "application/json";
            response.ContentLength = output.Length;
            await response.Body.WriteAsync(output, cancellationToken).ConfigureAwait(false);
            return;
        }

        var rewritten = RequestJson.ReplaceModelIfPresent(body, call.ClientModel);
        response.ContentLength = rewritten.Length;
        await response.Body.WriteAsync(rewritten, cancellationToken).ConfigureAwait(false);
    }

    private static async Task RelayErrorAsync(HttpResponse response, HttpResponseMessage upstream, UpstreamCall call, CancellationToken cancellationToken)
    {
        var status = (int)upstream.StatusCode;
        var body = await ReadBoundedAsync(upstream, MaxErrorBodyBytes, cancellationToken).ConfigureAwait(false);
        byte[] output;
        if (status is 401 or 403)
        {
            // The upstream refused the channel's own key: the caller cannot fix that, and passing a 401 on
            // would tell Claude Code that the caller's key is wrong. Report a gateway-side failure.
            response.StatusCode = StatusCodes.Status502BadGateway;
            output = ErrorBodies.Anthropic(
                ErrorBodies.AnthropicType(502),
                $"the upstream of channel '{call.ChannelName}' rejected the channel's credentials (HTTP {status}); the gateway operator must fix the channel's apiKeys",
                call.RequestId);
        }
        else if (ErrorBodies.IsAnthropicError(body.Span))
        {
            output = body.ToArray();
        }
        else
        {
            var message = ErrorBodies.TryReadMessage(body.Span)
                ?? $"the upstream of channel '{call.ChannelName}' answered HTTP {status} ({upstream.Content.Headers.ContentType?.MediaType ?? "no body"})";
            output = ErrorBodies.Anthropic(ErrorBodies.AnthropicType(status), message, call.RequestId);
        }

        response.ContentType = "application/json";
        response.ContentLength = output.Length;
        if (status is 401 or 403 or 402)
        {
            response.Headers["x-should-retry"] = "false";
        }

        await response.Body.WriteAsync(output, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<AttemptOutcome> RelayStreamAsync(HttpResponse response, HttpResponseMessage upstream, UpstreamCall call, UpstreamAttempt attempt, CancellationToken cancellationToken)
    {
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(cancellationToken).ConfigureAwait(false);
        attempt.ClientResponseStarted = true;

        var client = response.BodyWriter;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var upstreamBody = await upstream.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var _ = upstreamBody.ConfigureAwait(false);
        var reader = new SseReader(upstreamBody);
        await using var __ = reader.ConfigureAwait(false);
        var sawStop = false;
        while (true)
        {
            SseEvent? next;
            idle.CancelAfter(call.IdleTimeout);
            try
            {
                next = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return AttemptOutcome.ClientAborted;
            }
            catch (OperationCanceledException)
            {
                await WriteStreamErrorAsync(client, "timeout_error",
                    $"the upstream sent nothing for {call.IdleTimeout.TotalSeconds:0} s; the stream was ended", cancellationToken).ConfigureAwait(false);
                return AttemptOutcome.IdleTimeout;
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or SseFormatException)
            {
                await WriteStreamErrorAsync(client, "api_error", "the upstream stream broke before it finished", cancellationToken).ConfigureAwait(false);
                return AttemptOutcome.UpstreamCut;
            }

            if (next is not { } item)
            {
                break;
            }

            if (item.IsComment)
            {
                SseWriter.WriteComment(client, item.Data);
            }
            else
            {
                var data = item.EventType == "message_start" ? RestoreModel(item.Data, call.ClientModel) : item.Data;
                SseWriter.WriteEvent(client, item.EventType, data);
                sawStop |= item.EventType == "message_stop";
            }

            await client.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (sawStop)
            {
                // Close promptly after message_stop: clients wait for EOF (PROTOCOLS.md §8 #22).
                return AttemptOutcome.Completed;
            }
        }

        await WriteStreamErrorAsync(client, "api_error", "the upstream closed the stream before message_stop", cancellationToken).ConfigureAwait(false);
        return AttemptOutcome.UpstreamCut;
    }

    private static string RestoreModel(string data, string clientModel)
    {
        try
        {
            if (JsonNode.Parse(data) is JsonObject root && root["message"] is JsonObject message
                && message["model"]?.GetValue<string>() != clientModel)
            {
                message["model"] = clientModel;
                return root.ToJsonString();
            }
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            // Not ours to fix: relay the event as the upstream sent it.
        }

        return data;
    }

    private static async Task WriteStreamErrorAsync(System.IO.Pipelines.PipeWriter client, string type, string message, CancellationToken cancellationToken)
    {
        try
        {
            SseWriter.WriteEvent(client, "error", ErrorBodies.Anthropic(type, message, requestId: null));
            await client.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone too; nothing left to tell.
        }
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
                throw new IOException($"upstream response larger than {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
