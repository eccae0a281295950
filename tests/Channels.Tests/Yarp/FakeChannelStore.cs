using Microsoft.Extensions.Primitives;

namespace CcxProxy.Channels.Tests;

/// <summary>A store whose snapshot the test sets; <see cref="Publish"/> fires the change token.</summary>
internal sealed class FakeChannelStore(ChannelSnapshot initial) : IChannelStore
{
    private CancellationTokenSource _source = new();

    public ChannelSnapshot Current { get; private set; } = initial;

    public bool IsLoaded => true;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_source.Token);

    public void Publish(ChannelSnapshot snapshot)
    {
        Current = snapshot;
        var old = Interlocked.Exchange(ref _source, new CancellationTokenSource());
        old.Cancel();
    }
}
