package tgemu

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/crypto/srp"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"go.uber.org/zap"
)

// User accounts log in as on Telegram: auth.sendCode, auth.signIn with the
// fixed LoginCode, and, when the account has a password, SRP 2FA
// (account.getPassword + auth.checkPassword).

// srpP is Telegram's 2048-bit SRP modulus; srpG its generator.
var srpP, _ = hex.DecodeString("C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F" +
	"48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37" +
	"20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64" +
	"2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4" +
	"A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754" +
	"FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4" +
	"E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F" +
	"0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B")

const srpG = 3

// password is an account's 2FA verifier (never the password itself).
type password struct {
	Salt1 []byte `json:"salt1"`
	Salt2 []byte `json:"salt2"`
	V     []byte `json:"v"` // g^x mod p, 256 bytes
}

// srpSession is one account.getPassword answer awaiting auth.checkPassword.
type srpSession struct {
	id     int64
	userID int64
	b      *big.Int
	gb     []byte // B, padded to 256 bytes
}

func pad256(x *big.Int) []byte {
	out := make([]byte, 256)
	x.FillBytes(out)
	return out
}

func sha(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// SetPassword sets (or, with "", removes) the user's 2FA password.
func (s *Server) SetPassword(userID int64, pass string) error {
	var pw *password
	if pass != "" {
		salt1 := make([]byte, 32)
		salt2 := make([]byte, 16)
		s.randSrc(salt1)
		s.randSrc(salt2)
		// NewHash is what a client sends to set a password: v and the
		// final salt1. About 0.1 s (PBKDF2), so outside the lock.
		v, fullSalt1, err := srp.NewSRP(rand.Reader).NewHash([]byte(pass), srp.Input{Salt1: salt1, Salt2: salt2, G: srpG, P: srpP})
		if err != nil {
			return fmt.Errorf("password hash: %w", err)
		}
		pw = &password{Salt1: fullSalt1, Salt2: salt2, V: v}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(userID)
	if err != nil {
		return err
	}
	u.Password = pw
	s.dirty = true
	return nil
}

func (s *Server) authSendCode(_ *call, req *tg.AuthSendCodeRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.byPhone[req.PhoneNumber]; !ok {
		// Sign-up is not emulated: accounts come from the control API.
		return nil, tgerr.New(400, "PHONE_NUMBER_INVALID")
	}
	b := make([]byte, 8)
	s.randSrc(b)
	hash := hex.EncodeToString(b)
	s.codeSent[hash] = req.PhoneNumber
	s.log.Info("login code sent", zap.String("code", s.cfg.LoginCode))
	return &tg.AuthSentCode{Type: &tg.AuthSentCodeTypeApp{Length: len(s.cfg.LoginCode)}, PhoneCodeHash: hash}, nil
}

func (s *Server) authSignIn(c *call, req *tg.AuthSignInRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	phone, ok := s.codeSent[req.PhoneCodeHash]
	if !ok || phone != req.PhoneNumber {
		return nil, tgerr.New(400, "PHONE_CODE_EXPIRED")
	}
	if req.PhoneCode != s.cfg.LoginCode {
		return nil, tgerr.New(400, "PHONE_CODE_INVALID")
	}
	delete(s.codeSent, req.PhoneCodeHash)
	u := s.st.Accounts[s.st.byPhone[phone]]
	if u == nil {
		return nil, tgerr.New(400, "PHONE_NUMBER_INVALID")
	}
	if u.Password != nil {
		s.pendingPassword[c.keyID] = u.ID
		return nil, tgerr.New(401, "SESSION_PASSWORD_NEEDED")
	}
	s.bindLocked(c, u)
	return &tg.AuthAuthorization{User: u.tl(u.ID)}, nil
}

// passwordAccountLocked is the account a 2FA step is about: the logged-in
// one, or the one that passed auth.signIn on this auth key.
func (s *Server) passwordAccountLocked(c *call) *account {
	if c.acc != nil {
		return c.acc
	}
	return s.st.Accounts[s.pendingPassword[c.keyID]]
}

func (s *Server) accountGetPassword(c *call, _ *tg.AccountGetPasswordRequest) (bin.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.passwordAccountLocked(c)
	if u == nil {
		return nil, errAuthKeyUnregistered
	}
	newSalt := make([]byte, 8)
	s.randSrc(newSalt)
	secure := make([]byte, 32)
	s.randSrc(secure)
	out := &tg.AccountPassword{
		NewAlgo:       &tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{Salt1: newSalt, Salt2: newSalt, G: srpG, P: srpP},
		NewSecureAlgo: &tg.SecurePasswordKdfAlgoUnknown{},
		SecureRandom:  secure,
	}
	if u.Password == nil {
		return out, nil
	}
	// B = k*v + g^b mod p, with k = H(p | g).
	p := new(big.Int).SetBytes(srpP)
	g := big.NewInt(srpG)
	rb := make([]byte, 256)
	s.randSrc(rb)
	b := new(big.Int).SetBytes(rb)
	k := new(big.Int).SetBytes(sha(srpP, pad256(g)))
	v := new(big.Int).SetBytes(u.Password.V)
	gb := new(big.Int).Mul(k, v)
	gb.Add(gb, new(big.Int).Exp(g, b, p)).Mod(gb, p)
	ss := &srpSession{id: s.randInt63(), userID: u.ID, b: b, gb: pad256(gb)}
	s.srp[c.keyID] = ss
	out.HasPassword = true
	out.CurrentAlgo = &tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{
		Salt1: u.Password.Salt1, Salt2: u.Password.Salt2, G: srpG, P: srpP,
	}
	out.SRPB = ss.gb
	out.SRPID = ss.id
	return out, nil
}

func (s *Server) authCheckPassword(c *call, req *tg.AuthCheckPasswordRequest) (bin.Encoder, error) {
	in, ok := req.Password.(*tg.InputCheckPasswordSRP)
	if !ok {
		return nil, tgerr.New(400, "PASSWORD_HASH_INVALID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.srp[c.keyID]
	if ss == nil || ss.id != in.SRPID {
		return nil, tgerr.New(400, "SRP_ID_INVALID")
	}
	delete(s.srp, c.keyID) // one try per getPassword, as on Telegram
	u := s.st.Accounts[ss.userID]
	if u == nil || u.Password == nil || !checkSRP(u.Password, ss, in.A, in.M1) {
		return nil, tgerr.New(400, "PASSWORD_HASH_INVALID")
	}
	delete(s.pendingPassword, c.keyID)
	s.bindLocked(c, u)
	return &tg.AuthAuthorization{User: u.tl(u.ID)}, nil
}

// checkSRP verifies the client's proof M1 (core.telegram.org/api/srp): the
// server's shared secret is S = (A * v^u)^b mod p, u = H(A | B).
func checkSRP(pw *password, ss *srpSession, aBytes, m1 []byte) bool {
	p := new(big.Int).SetBytes(srpP)
	a := new(big.Int).SetBytes(aBytes)
	if a.Sign() <= 0 || a.Cmp(p) >= 0 {
		return false
	}
	ga := pad256(a)
	u := new(big.Int).SetBytes(sha(ga, ss.gb))
	v := new(big.Int).SetBytes(pw.V)
	sv := new(big.Int).Exp(v, u, p)
	sv.Mul(sv, a).Mod(sv, p)
	sa := new(big.Int).Exp(sv, ss.b, p)
	ka := sha(pad256(sa))
	hp, hg := sha(srpP), sha(pad256(big.NewInt(srpG)))
	xor := make([]byte, len(hp))
	for i := range hp {
		xor[i] = hp[i] ^ hg[i]
	}
	want := sha(xor, sha(pw.Salt1), sha(pw.Salt2), ga, ss.gb, ka)
	return subtle.ConstantTimeCompare(want, m1) == 1
}
