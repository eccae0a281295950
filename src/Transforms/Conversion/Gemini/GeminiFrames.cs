using System.Buffers;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// How a stream to a Gemini client is framed: Server-Sent Events for <c>alt=sse</c> (what Google's SDKs and the
/// Gemini CLI ask for), else one JSON array written element by element (<c>[{…}</c>, <c>,\r\n{…}</c>, <c>]</c>), as
/// Google's API streams without it. Keep-alives are a blank line in both: Google's SDKs skip whitespace between
/// frames but would stall on an SSE comment, and whitespace between array elements is still JSON.
/// </summary>
internal sealed class GeminiFrames(bool jsonArray)
{
    private static readonly byte[] s_newline = "\r\n"u8.ToArray();
    private bool _opened;
    private bool _closed;
    private int _written;

    /// <summary>True when the stream is one JSON array.</summary>
    public bool JsonArray { get; } = jsonArray;

    /// <summary>Opens the array (JSON-array streams only).</summary>
    public void Open(IBufferWriter<byte> output)
    {
        if (JsonArray && !_opened)
        {
            _opened = true;
            output.Write("["u8);
        }
    }

    /// <summary>Writes one <c>GenerateContentResponse</c> (or error object).</summary>
    public void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> chunk)
    {
        if (!JsonArray)
        {
            SseWriter.WriteEvent(output, null, chunk);
            return;
        }

        Open(output);
        output.Write(_written++ == 0 ? ReadOnlySpan<byte>.Empty : ",\r\n"u8);
        output.Write(chunk);
    }

    /// <summary>Closes the array (JSON-array streams only); nothing more is written after.</summary>
    public void Close(IBufferWriter<byte> output)
    {
        if (JsonArray && !_closed)
        {
            Open(output);
            _closed = true;
            output.Write("]"u8);
        }
    }

    /// <summary>A keep-alive: a blank line.</summary>
    public void Ping(IBufferWriter<byte> output)
    {
        if (!_closed)
        {
            output.Write(s_newline);
        }
    }

    /// <summary>An error as Google writes one mid-stream, <c>{"error":{"code","message","status"}}</c>, and the end of the stream.</summary>
    public void Error(IBufferWriter<byte> output, string anthropicType, string message)
    {
        Write(output, ErrorBodies.Google(ErrorBodies.StatusOfAnthropicType(anthropicType), message));
        Close(output);
    }
}
