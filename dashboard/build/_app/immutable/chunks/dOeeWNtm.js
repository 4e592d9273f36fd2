function t(e){return e.stopped?"stopped":e.current_deployment?e.runtime?.state??"running":"never"}export{t as a};
