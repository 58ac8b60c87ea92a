package tgemu

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gotd/log/logzap"
	"github.com/gotd/td/transport"
	"github.com/tgbotsvc/tgbot/internal/logging"
	"github.com/tgbotsvc/tgbot/internal/tgemu/mtserver"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tgbotsvc/tgbot/internal/config"
)

// DCID is the data center ID the emulator claims to be.
const DCID = 2

// Config configures a Server. The zero value is usable: it listens on
// 127.0.0.1:9443, has no control API and generates its key in memory.
type Config struct {
	// MTProtoAddr is where clients connect; default "127.0.0.1:9443".
	// Tests pass "127.0.0.1:0".
	MTProtoAddr string
	// PublicAddr is the host:port clients reach the MTProto server at, put
	// in help.getConfig's DC list (clients reconnect there). "" means the
	// listening address, or 127.0.0.1 with its port when it listens on all
	// interfaces. Set it when clients use a name ("tgemu:9443").
	PublicAddr string
	// HTTPAddr is the control API's address; "" means no control API.
	HTTPAddr string
	// KeyFile is the RSA private key (PEM). It is created when missing, so
	// clients' sessions stay valid across restarts. "" means a key generated
	// in memory (or PrivateKey).
	KeyFile string
	// PrivateKey, when set and KeyFile is empty, is used instead of
	// generating one (tests share one key: generating costs ~0.5 s).
	PrivateKey *rsa.PrivateKey
	// PublicKeyFile, when set, receives the public key PEM.
	PublicKeyFile string
	// DataFile, when set, persists auth keys, accounts, chats, messages and
	// update state across restarts (JSON, written atomically).
	DataFile string
	// BotTokens, when non-empty, are the only bot tokens that may log in.
	BotTokens []string
	// Limits are the flood limits; zero values mean off.
	Limits Limits
	// FileReferenceTTL is how long a document's file reference stays
	// valid; 0 means forever.
	FileReferenceTTL time.Duration
	// LoginCode is the code user accounts log in with; default "12345".
	LoginCode string
	// Logger; nil means no logs.
	Logger *zap.Logger
	// Now is the clock of message dates, file reference expiry and flood
	// limits; nil means time.Now. Tests move it forward.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.MTProtoAddr == "" {
		c.MTProtoAddr = "127.0.0.1:9443"
	}
	if c.LoginCode == "" {
		c.LoginCode = "12345"
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Limits are Telegram-like flood limits. A zero value disables that limit.
type Limits struct {
	// GlobalPerSecond is the number of messages one bot may send per second.
	GlobalPerSecond int `json:"global_per_second"`
	// PerChatPerSecond is the number of messages one bot may send to one
	// chat per second.
	PerChatPerSecond int `json:"per_chat_per_second"`
	// GroupPerMinute is the number of messages one bot may send to one group
	// per minute.
	GroupPerMinute int `json:"group_per_minute"`
}

// Server is the emulator: an MTProto server with Telegram's semantics for
// the methods bots use, and a control API that plays the users.
type Server struct {
	cfg    Config
	log    *zap.Logger
	key    *rsa.PrivateKey
	pubPEM []byte
	mt     *mtserver.Server
	routes map[uint32]route

	// mu guards st, sessions, sessionSeq, limiter, faults, dirty, codeSent,
	// pendingPassword and srp. Handlers hold it briefly; no I/O under it
	// except writing a new document's bytes next to DataFile.
	mu       sync.Mutex
	st       *state
	sessions map[int64]*session
	// sessionSeq orders sessions by registration (the oldest is dropped).
	sessionSeq uint64
	limiter    *limiter
	faults     map[string][]*fault
	dirty      bool

	statsMu sync.Mutex
	stats   Stats

	// feed carries Events to the control API's event stream.
	feed feed

	requests *requests

	conns    *connTracker
	mtLn     net.Listener
	httpLn   net.Listener
	httpSrv  *http.Server
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	started  bool
	closed   bool
	now      func() time.Time
	randSrc  func(b []byte)
	codeSent map[string]string // phone code hash -> phone
	// pendingPassword: auth key (hex ID) -> account that passed auth.signIn
	// and must still pass 2FA. srp: auth key -> its open SRP challenge.
	pendingPassword map[string]int64
	srp             map[string]*srpSession
}

// New builds a server from cfg: it loads or creates the key and loads the
// data file. Nothing listens until Start.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	key, err := loadKey(cfg)
	if err != nil {
		return nil, err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	if cfg.PublicKeyFile != "" {
		if err := writeFileAtomic(cfg.PublicKeyFile, pubPEM, 0o644); err != nil {
			return nil, fmt.Errorf("write public key: %w", err)
		}
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		key:      key,
		pubPEM:   pubPEM,
		st:       newState(),
		sessions: map[int64]*session{},
		faults:   map[string][]*fault{},
		stats:    Stats{RPC: map[string]int{}},
		requests: newRequests(),
		conns:    newConnTracker(),
		now:      cfg.Now,
		randSrc:  func(b []byte) { _, _ = rand.Read(b) },
		codeSent: map[string]string{},

		pendingPassword: map[string]int64{},
		srp:             map[string]*srpSession{},
	}
	s.limiter = newLimiter(cfg.Limits)
	if cfg.DataFile != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	s.routes = s.buildRoutes()
	s.mt = mtserver.NewServer(mtserver.NewPrivateKey(key), mtserver.HandlerFunc(s.onMessage), mtserver.ServerOptions{
		DC: DCID,
		// gotd pings every 60 s; a shorter read timeout would drop idle clients.
		ReadTimeout:  5 * time.Minute,
		WriteTimeout: 30 * time.Second,
		Logger:       logzap.New(logging.AtLeast(s.log.Named("mtproto"), zapcore.WarnLevel)),
		OnAuthKey:    s.onAuthKey,
	})
	s.restoreAuthKeys()
	return s, nil
}

func loadKey(cfg Config) (*rsa.PrivateKey, error) {
	if cfg.KeyFile == "" {
		if cfg.PrivateKey != nil {
			return cfg.PrivateKey, nil
		}
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
		return k, nil
	}
	data, err := os.ReadFile(cfg.KeyFile)
	if errors.Is(err, os.ErrNotExist) {
		k := cfg.PrivateKey
		if k == nil {
			if k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				return nil, fmt.Errorf("generate key: %w", err)
			}
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		if err := writeFileAtomic(cfg.KeyFile, out, 0o600); err != nil {
			return nil, fmt.Errorf("write key file: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key file %s: no PEM block", cfg.KeyFile)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", cfg.KeyFile, err)
	}
	k, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s: not an RSA key", cfg.KeyFile)
	}
	return k, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Start listens on the MTProto (and, if configured, HTTP) address and
// serves in the background. It returns once both accept connections.
func (s *Server) Start(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.started {
		return errors.New("tgemu: already started")
	}
	var lc net.ListenConfig
	mtLn, err := lc.Listen(ctx, "tcp", s.cfg.MTProtoAddr)
	if err != nil {
		return fmt.Errorf("listen mtproto: %w", err)
	}
	s.mtLn = s.conns.wrap(mtLn)
	if s.cfg.HTTPAddr != "" {
		httpLn, err := lc.Listen(ctx, "tcp", s.cfg.HTTPAddr)
		if err != nil {
			_ = mtLn.Close()
			return fmt.Errorf("listen http: %w", err)
		}
		s.httpLn = httpLn
	}
	s.started = true
	// The server's lifetime is Close, not the ctx of Start.
	s.ctx, s.cancel = context.WithCancel(context.Background())

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.mt.Serve(s.ctx, transport.Listen(s.mtLn)); err != nil {
			s.log.Warn("mtproto serve", zap.Error(err))
		}
	}()
	if s.httpLn != nil {
		s.httpSrv = &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("http serve", zap.Error(err))
			}
		}()
	}
	if s.cfg.DataFile != "" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.saveLoop(s.ctx)
		}()
	}
	s.log.Info("tgemu started", zap.String("mtproto_addr", s.MTProtoAddr()), zap.String("http_addr", s.HTTPAddr()))
	return nil
}

// Close stops listening, drops every connection, waits for the server's
// goroutines and saves the data file.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.started || s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	var errs []error
	if s.httpSrv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.httpSrv.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, s.httpSrv.Close())
		}
		cancel()
	}
	_ = s.mtLn.Close()
	s.conns.closeAll()
	s.wg.Wait()
	if s.cfg.DataFile != "" {
		if err := s.save(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MTProtoAddr is the address clients connect to (after Start).
func (s *Server) MTProtoAddr() string {
	if s.mtLn == nil {
		return s.cfg.MTProtoAddr
	}
	return s.mtLn.Addr().String()
}

// HTTPAddr is the control API's address, "" when it is off.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// PublicKeyPEM is the server's RSA public key (PKCS#1 PEM), what clients
// need besides the address.
func (s *Server) PublicKeyPEM() []byte {
	out := make([]byte, len(s.pubPEM))
	copy(out, s.pubPEM)
	return out
}

// ClientConfig writes the public key into dir and returns the client
// configuration for this server. BotToken is left empty for the caller.
func (s *Server) ClientConfig(dir string) config.Telegram {
	path := filepath.Join(dir, "tgemu-public.pem")
	if err := writeFileAtomic(path, s.pubPEM, 0o644); err != nil {
		s.log.Error("write public key", zap.Error(err))
	}
	return config.Telegram{
		AppID:         1,
		AppHash:       "emulator",
		DCAddr:        s.MTProtoAddr(),
		DCID:          DCID,
		PublicKeyFile: path,
	}
}

// DisconnectAll drops every MTProto connection; clients reconnect.
func (s *Server) DisconnectAll() {
	s.mu.Lock()
	for id, sess := range s.sessions {
		sess.stop()
		delete(s.sessions, id)
	}
	s.mu.Unlock()
	s.conns.closeAll()
}
