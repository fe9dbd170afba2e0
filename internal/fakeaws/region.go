package fakeaws

// region is one account's state in one region. Server.mu guards it.
type region struct {
	account string
	name    string
}

func newRegion(account, name string) *region {
	return &region{account: account, name: name}
}
