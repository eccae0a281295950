using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Forwarding;
using Microsoft.AspNetCore.Http;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Forwarding;

/// <summary>What the relay did with one upstream answer: the attempt's verdict and what the client got.</summary>
internal sealed record Relayed(AttemptResult Attempt, int Status, string Body);

/// <summary>
/// The relay in process: a <see cref="DefaultHttpContext"/> as the client, an <see cref="HttpResponseMessage"/> as
/// the upstream's answer. An error the relay hands back (<see cref="AttemptResult.Error"/>) is written as the host
/// writes it, through <see cref="ErrorResponse"/>.
/// </summary>
internal static class RelayHarness
{
    public static async Task<Relayed> RelayAsync(HttpResponseMessage upstream, UpstreamCall call, CancellationToken clientGone = default)
    {
        using (upstream)
        {
            using var attempt = new UpstreamAttempt(call.Time, Timeout.InfiniteTimeSpan, clientGone);
            var context = new DefaultHttpContext { RequestAborted = clientGone };
            using var body = new MemoryStream();
            context.Response.Body = body;
            await ResponseRelay.RelayAsync(context, upstream, call, attempt, clientGone).WaitAsync(TimeSpan.FromSeconds(20));
            var result = attempt.Result();
            if (result.Error is { } error)
            {
                Assert.That(body.Length, Is.Zero, "an error handed back to the host comes with nothing written");
                await ErrorResponse.WriteAsync(context.Response, call.WireProtocol, error, call.RequestId, CancellationToken.None);
            }

            return new Relayed(result, context.Response.StatusCode, Encoding.UTF8.GetString(body.ToArray()));
        }
    }

    /// <summary>A JSON answer with <paramref name="status"/> and headers written <c>name: value</c>.</summary>
    public static HttpResponseMessage JsonAnswer(int status, string body, params string[] headers)
    {
        var response = new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var header in headers)
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            response.Headers.TryAddWithoutValidation(header[..colon], header[(colon + 1)..].Trim());
        }

        return response;
    }

    /// <summary>A 200 event stream reading <paramref name="body"/>.</summary>
    public static HttpResponseMessage EventStream(Stream body)
    {
        var content = new StreamContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/event-stream");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    /// <summary>A 200 event stream of exactly <paramref name="text"/>.</summary>
    public static HttpResponseMessage EventStream(string text) => EventStream(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    /// <summary>The SSE text of the frames among <paramref name="steps"/>.</summary>
    public static string Frames(IEnumerable<StreamStep> steps) => string.Concat(steps.OfType<StreamStep.Frame>().Select(f => f.WireText));

    public static string Frames(params StreamStep[] steps) => Frames((IEnumerable<StreamStep>)steps);
}
