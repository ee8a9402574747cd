package receivers

// The robots' credentials in these tests: each fake vendor server
// (internal/fakerobot) checks them, and none may show in an error or a
// log line.
const (
	dingToken  = "d1ngt0kenSECRETVALUE0123456789abcdef"
	dingSecret = "SECf00dfeedc0ffee1234567890abcdefSECRET"
	weComKey   = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	feishuHook = "5e3d587e-d78e-4a07-bd07-265f269f86fd"
	feishuKey  = "nIMtb7r3N9pkXyXdtAbx6e"
)
