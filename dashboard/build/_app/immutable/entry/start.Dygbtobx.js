import{s as r}from"../chunks/8jfEuYWH.js";import{y as t}from"../chunks/CFWnvLLY.js";export{t as load_css,r as start};
