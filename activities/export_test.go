package activities

// LinksFor names the people a notice of in links, in order: what links would sign.
func (n *Notifier) LinksFor(in Notice) ([]string, error) {
	pairs, err := n.links(in)
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.Approver
	}
	return out, err
}
