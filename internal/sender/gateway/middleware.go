package gateway

import (
	"context"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
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
