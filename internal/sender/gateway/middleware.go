package gateway

import (
	"context"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"

	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
)

// methodName is the TL name of a request ("messages.sendMessage").
func methodName(input bin.Encoder) string {
	if n, ok := input.(interface{ TypeName() string }); ok {
		return n.TypeName()
	}
	return "unknown"
}

// observe is the innermost middleware: it sees every RPC as sent, including
// each retry after a flood wait, and counts it by method and result.
func (g *Gateway) observe(next tg.Invoker) telegram.InvokeFunc {
	return func(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
		if g.metrics == nil {
			return next.Invoke(ctx, input, output)
		}
		method := methodName(input)
		start := time.Now()
		err := next.Invoke(ctx, input, output)
		elapsed := time.Since(start)
		code := "OK"
		if err != nil {
			code = "NETWORK"
			if rpcErr, ok := tgerr.As(err); ok {
				code = rpcErr.Type
			} else if ctx.Err() != nil {
				code = "CANCELED"
			}
		}
		g.metrics.ObserveRPC(method, code, elapsed.Seconds())
		if err == nil {
			return nil // tgerr's lookups allocate even for a nil error
		}
		if d, ok := tgerr.AsFloodWait(err); ok {
			g.metrics.FloodWaits.WithLabelValues(method).Inc()
			g.metrics.FloodWaitSeconds.Add(d.Seconds())
		}
		return err
	}
}

// limit passes message sends through the rate limits (every attempt,
// retries after a flood wait included).
func (g *Gateway) limit(next tg.Invoker) telegram.InvokeFunc {
	return func(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
		peer, ok := ratelimit.SendTarget(input)
		if !ok {
			return next.Invoke(ctx, input, output)
		}
		release, err := g.limiter.Acquire(ctx, peer)
		if err != nil {
			return err
		}
		// Failed sends count too: Telegram may have counted them.
		defer release()
		return next.Invoke(ctx, input, output)
	}
}

// floodGate holds message sends while another replica of this bot waits
// out a FLOOD_WAIT, and tells the others about one seen here.
func (g *Gateway) floodGate(next tg.Invoker) telegram.InvokeFunc {
	return func(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
		if g.cfg.Flood == nil {
			return next.Invoke(ctx, input, output)
		}
		if _, ok := ratelimit.SendTarget(input); !ok {
			return next.Invoke(ctx, input, output)
		}
		if err := g.cfg.Flood.Wait(ctx); err != nil {
			return err
		}
		err := next.Invoke(ctx, input, output)
		if d, ok := tgerr.AsFloodWait(err); ok {
			g.cfg.Flood.Report(ctx, int((d+time.Second-1)/time.Second))
		}
		return err
	}
}
