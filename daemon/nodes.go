package daemon

// Lots shared by several FreeSWITCH nodes ([[node]], [esl] node): this
// parkd serves one node, its own switch's only, and meets the other
// nodes' parkd in PostgreSQL. The store marks every row with the node and
// settles slot claims; a retrieve for a call parked on another node sends
// the retriever there with a token (parking/nodes.go, esl/hop.go).

// setupNode tells the store which node it writes for. Called before the
// store opens.
func (m *Main) setupNode() {
	if self, ok := m.Config.Self(); ok {
		m.DB.Node = self.Name
	}
}

// wireNodes gives the park service and the outbound server the shared
// store's view of the other nodes. Called once both exist.
func (m *Main) wireNodes() {
	self, ok := m.Config.Self()
	if !ok {
		return
	}
	m.Service.Node = self.Name
	m.Service.Claims = m.DB
	m.Service.Nodes = m.DB
}
